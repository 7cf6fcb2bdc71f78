# Test-only config of the released GPaCo ImageNet-LT ResNeXt-101 32x4d
# checkpoint (official README table; GPaCo/LT/sh/LT/ImageNetLT_eval_X101.sh,
# arch resnext101_32x4d of models/resnet_imagenet.py: groups 32, width
# 4 per group): the GPaCo ResNet-50 released config with that encoder.
_base_ = './gpaco_resnet50_4xb32-400e_imagenet-lt_released.py'

model = dict(
    backbone=dict(
        _delete_=True, type='ResNeXt', depth=101, groups=32,
        width_per_group=4, num_stages=4, out_indices=(3, ),
        style='pytorch'))
