# Two-view (MultiView) training pipeline for iNaturalist 2018. The KCL code
# forces the "default" supervised augmentation on iNat (spec_kcl.md
# section 4.1): RandomResizedCrop(224, scale 0.08-1) + flip, applied
# independently to each view. SimAugment / RandAugment presets: see
# imagenet_lt_2view.py (same transforms; iNat normalisation comes from
# inat2018.py).
_base_ = ['./inat2018.py']

load = dict(type='LoadImageFromFileStrict')
pack = dict(type='PackInputs')
default_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]
train_pipeline = [
    load,
    dict(type='MultiView', num_views=2, transforms=[default_view]),
    pack,
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
