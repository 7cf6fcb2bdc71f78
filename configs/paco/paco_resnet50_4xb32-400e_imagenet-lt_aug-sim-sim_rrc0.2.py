# Ablation (Cui et al. ICCV 2021, section 4.1: 52.2 on ImageNet-LT, R50, vs
# 55.0 with the default scale): RandomResizedCrop scale (0.2, 1) as in
# self-supervised MoCo, in the SimAugment-for-both setting of
# paco_resnet50_4xb32-400e_imagenet-lt_aug-sim-sim.py.
_base_ = './paco_resnet50_4xb32-400e_imagenet-lt_aug-sim-sim.py'

simaug_rrc02 = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0))
] + _base_.simaug_view[1:]
train_dataloader = dict(
    dataset=dict(pipeline=[
        _base_.train_pipeline[0],  # LoadImageFromFileStrict
        dict(
            type='MultiView',
            num_views=[1, 1],
            transforms=[simaug_rrc02, simaug_rrc02]),
        dict(type='PackInputs'),
    ]))
