# LDAM-DRW on ImageNet-LT, ResNet-50. The LDAM paper has no ImageNet-LT
# recipe; ltcls decision: the CE recipe of
# ../ce/ce_resnet50_8xb32-coslr-90e_imagenet-lt.py, LDAM (max_m 0.5, s 30)
# on a cosine classifier, and DRW
# (beta 0.9999) for the last third of training (from epoch 60 of 90).
_base_ = '../ce/ce_resnet50_8xb32-coslr-90e_imagenet-lt.py'

model = dict(
    head=dict(
        _delete_=True,
        type='NormedLinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='LDAMLoss', max_m=0.5, s=30.0),
        topk=(1, 5)))

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='ClassCountsHook'),
    dict(type='DRWHook', start_epoch=60, beta=0.9999),
]
