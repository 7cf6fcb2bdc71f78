# ResCom ablation, queue type "class-balanced queue" (ImageNet-LT,
# ResNet-50; paper Fig. 3; spec_rescom.md §7): the class-balanced loss
# (beta 0.99) over the class-balanced queue (Q = 4 per class, 4,000 keys,
# Eq. 3) without hard pair mining: num_pos = Q = 4 and num_neg = (K - 1) Q
# = 3,996 keep every key, which is Eq. 3 exactly (spec §2.4). SiamBS and
# everything else as ResCom. Paper: the best queue type in top-1 and ECE
# (numbers not in the text).
_base_ = './rescom_resnet50_8xb32-400e_imagenet-lt.py'

model = dict(loss=dict(num_pos=4, num_neg=3996))
