# PaCo-dagger (Table 1: 51.0): PaCo without the center rebalance and
# without RandAugment (SimAugment on both views), ImageNet-LT, ResNet-50;
# otherwise the ResNet-50 recipe (spec_paco.md §2.9, §6).
_base_ = './paco_resnet50_4xb32-400e_imagenet-lt.py'

model = dict(loss=dict(center_rebalance=False))
train_dataloader = dict(dataset=dict(pipeline=[
    _base_.train_pipeline[0],
    dict(type='MultiView', num_views=2, transforms=[_base_.simaug_view]),
    dict(type='PackInputs'),
]))
