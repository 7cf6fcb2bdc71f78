# Ablation (Cui et al. ICCV 2021, Table 2 row 1, 55.0 on ImageNet-LT, R50):
# SimAugment for both the query (encoder) and the key (momentum encoder)
# view; everything else as the main config (row 3, RandAugment query /
# SimAugment key, 57.0).
_base_ = './paco_resnet50_4xb32-400e_imagenet-lt.py'

train_dataloader = dict(
    dataset=dict(pipeline=[
        _base_.train_pipeline[0],  # LoadImageFromFileStrict
        dict(
            type='MultiView',
            num_views=[1, 1],
            transforms=[_base_.simaug_view, _base_.simaug_view]),
        dict(type='PackInputs'),
    ]))
