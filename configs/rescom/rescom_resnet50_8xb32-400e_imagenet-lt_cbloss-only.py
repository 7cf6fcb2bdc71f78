# ResCom ablation, queue type "original queue" (ImageNet-LT, ResNet-50;
# paper Fig. 3; spec_rescom.md §7): the class-balanced contrastive loss
# (effective-number weights, beta 0.99) over the original, long-tailed
# queue: one FIFO of K * Q = 4,000 labelled keys instead of the
# class-balanced queue (queue_type='fifo', which starts empty), and no
# hard pair mining (num_pos = num_neg = 4,000 keep every queue key; the
# queue-type ablation trains "with the class-balanced contrastive loss",
# SPM comes later in the paper). SiamBS and everything else as ResCom.
# Paper: below the class-balanced queue in top-1 and ECE, above the
# reversed queue (numbers not in the text).
_base_ = './rescom_resnet50_8xb32-400e_imagenet-lt.py'

model = dict(
    queue_type='fifo',
    queue_init='empty',
    loss=dict(num_pos=4000, num_neg=4000))
