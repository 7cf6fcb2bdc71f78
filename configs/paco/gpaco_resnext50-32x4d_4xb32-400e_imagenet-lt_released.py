# Test-only config of the released GPaCo ImageNet-LT ResNeXt-50 32x4d
# checkpoint (official README table; GPaCo/LT/sh/LT/ImageNetLT_eval_X50.sh,
# arch torchvision resnext50_32x4d: groups 32, width
# 4 per group): the GPaCo ResNet-50 released config with that encoder.
_base_ = './gpaco_resnet50_4xb32-400e_imagenet-lt_released.py'

model = dict(
    backbone=dict(
        _delete_=True, type='ResNeXt', depth=50, groups=32,
        width_per_group=4, num_stages=4, out_indices=(3, ),
        style='pytorch'))
