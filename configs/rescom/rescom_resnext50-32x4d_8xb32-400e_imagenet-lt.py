# ResCom on ImageNet-LT, ResNeXt-50 32x4d (Table 4: 59.2): the ResNet-50
# recipe (lr 0.06, 8 x 32, 400 epochs) with the ResNeXt backbone.
_base_ = './rescom_resnet50_8xb32-400e_imagenet-lt.py'

model = dict(
    backbone=dict(
        _delete_=True, type='ResNeXt', depth=50, groups=32,
        width_per_group=4, num_stages=4, out_indices=(3, ),
        style='pytorch'))
