# ResCom ablation "SupCon framework + Balanced Softmax" (ImageNet-LT,
# ResNet-50; paper §4.2 "full model vs baselines": 56.5 vs ResCom 58.7;
# spec_rescom.md §7, Fig. 2a). The ResCom recipe with its four contrastive
# rebalancing parts switched off, everything else unchanged:
# * plain SupCon weights: effective_num_beta=0 (w = 1 for every class);
# * the original long-tailed queue: one FIFO of K * Q = 4,000 labelled keys
#   (queue_type='fifo'; it starts empty);
# * no hard pair mining: num_pos = num_neg = 4,000 keeps every queue key;
# * single-view Balanced Softmax (view 1 only): siamese_cls=False.
# The contrastive term keeps the official code's form (both views anchor,
# local in-batch contrast + queue, tau 0.2, lambda 0.5). The paper does not
# give this baseline's queue size (Fig. 4 right sweeps it).
_base_ = './rescom_resnet50_8xb32-400e_imagenet-lt.py'

model = dict(
    queue_type='fifo',
    queue_init='empty',
    loss=dict(
        effective_num_beta=0.0,
        num_pos=4000,  # = K * Q: every positive in the queue
        num_neg=4000,  # every negative in the queue
        siamese_cls=False))
