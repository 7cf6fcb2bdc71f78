# LDAM-DRW (Cao et al. 2019) on DigitsLT IF 50: cosine classifier + LDAM
# (max_m 0.5, s 30), effective-number re-weighting (beta 0.9999) from epoch
# 32 of 40 (the reference defers it to 160 of 200, i.e. 80% of training).
_base_ = '../ce/ce_resnet32_1xb32-coslr-40e_digits-lt-if50.py'

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
    dict(type='DRWHook', start_epoch=32, beta=0.9999),
]
