# PaCo on ImageNet-LT, ResNeXt-50 32x4d (spec_paco.md §4, official
# sh/ImageNetLT_train_X50.sh): the ResNet-50 recipe with tau 0.07 (script;
# the paper says 0.2) and StackedRandAugment on the query view.
_base_ = './paco_resnet50_4xb32-400e_imagenet-lt.py'

model = dict(
    backbone=dict(
        _delete_=True, type='ResNeXt', depth=50, groups=32,
        width_per_group=4, num_stages=4, out_indices=(3, ),
        style='pytorch'),
    loss=dict(temperature=0.07))

train_dataloader = dict(dataset=dict(pipeline=[
    _base_.train_pipeline[0],
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[_base_.stacked_randaug_view, _base_.simaug_view]),
    dict(type='PackInputs'),
]))
