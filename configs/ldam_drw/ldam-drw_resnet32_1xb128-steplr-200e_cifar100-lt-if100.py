# LDAM-DRW (Cao et al. 2019), CIFAR-100-LT IF 100, ResNet-32: the reference
# code's recipe (github.com/kaidic/LDAM-DRW, `--loss_type LDAM --train_rule
# DRW`): cosine classifier (NormedLinear), LDAM with max_m 0.5 and s 30,
# effective-number class weights (beta 0.9999) from epoch 160; schedule of
# ../ce/ce_resnet32_1xb128-steplr-200e_cifar100-lt-if100.py.
_base_ = '../ce/ce_resnet32_1xb128-steplr-200e_cifar100-lt-if100.py'

model = dict(
    head=dict(
        _delete_=True,
        type='NormedLinearClsHead',
        num_classes=100,
        in_channels=64,
        loss=dict(type='LDAMLoss', max_m=0.5, s=30.0)))

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='ClassCountsHook'),
    dict(type='DRWHook', start_epoch=160, beta=0.9999),
]
