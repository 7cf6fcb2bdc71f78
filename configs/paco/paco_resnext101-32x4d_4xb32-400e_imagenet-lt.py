# PaCo on ImageNet-LT, ResNeXt-101 32x4d (spec_paco.md §4, official
# sh/ImageNetLT_train_X101.sh): lr 0.03 (script; the paper says 0.02), tau
# 0.2, StackedRandAugment with n = 3, m = 10 on the query view.
_base_ = './paco_resnet50_4xb32-400e_imagenet-lt.py'

model = dict(
    backbone=dict(
        _delete_=True, type='ResNeXt', depth=101, groups=32,
        width_per_group=4, num_stages=4, out_indices=(3, ),
        style='pytorch'))

stacked_randaug_n3_view = _base_.simaug_view + [
    dict(type='TimmRandAugment', policies='timm', num_policies=3,
         magnitude_level=10, magnitude_std=0.5,
         hparams=dict(pad_val=_base_.ra_fill, interpolation='bicubic')),
]
train_dataloader = dict(dataset=dict(pipeline=[
    _base_.train_pipeline[0],
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[stacked_randaug_n3_view, _base_.simaug_view]),
    dict(type='PackInputs'),
]))
optim_wrapper = dict(optimizer=dict(lr=0.03))
