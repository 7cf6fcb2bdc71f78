# LDAM-DRW (Cao et al. 2019) on Fashion-MNIST-LT IF 100: cosine classifier
# + LDAM (max_m 0.5, s 30: the CIFAR values, margins depend only on the
# class counts), effective-number re-weighting (beta 0.9999) deferred to
# epoch 24 of 30 (the CIFAR recipe defers it to 160 of 200, i.e. 80%).
_base_ = '../ce/ce_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py'

model = dict(
    head=dict(
        _delete_=True,
        type='NormedLinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='LDAMLoss', max_m=0.5, s=30.0)))

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='ClassCountsHook'),
    dict(type='DRWHook', start_epoch=24, beta=0.9999),
]
