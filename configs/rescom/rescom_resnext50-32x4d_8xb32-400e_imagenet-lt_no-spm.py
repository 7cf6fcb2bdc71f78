# ResCom ablation without supervised hard pair mining (ImageNet-LT,
# ResNeXt-50 32x4d; paper Fig. 4 centre; spec_rescom.md §7): every key of
# the class-balanced queue enters the loss, num_pos = Q = 4 and num_neg =
# (K - 1) Q = 3,996 (Eq. 3; the paper's "Q_n = K(Q - 1)" is a typo).
# Paper: SPM is about +0.8 top-1 over this (grid values not in the text).
# Everything else as the ResNeXt-50 ResCom config.
_base_ = './rescom_resnext50-32x4d_8xb32-400e_imagenet-lt.py'

model = dict(loss=dict(num_pos=4, num_neg=3996))
