# Two-view (MultiView) training pipelines for ImageNet-LT, for the
# contrastive methods (KCL / FCL / SupCon / PaCo ...). Each view preset is a
# list of transforms applied independently to every view; a method config
# picks presets by rebuilding `train_pipeline` from these variables, e.g.
#   train_pipeline = [load, dict(type='MultiView', num_views=[1, 1],
#                                transforms=[randaug_view, simaug_view]),
#                     pack]
#   train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
# The default here is KCL's: the "default" supervised view twice.
# Images are decoded as BGR (the preprocessor converts to RGB), hence the
# BGR grayscale weights and fill values.
_base_ = ['./imagenet_lt.py']

load = dict(type='LoadImageFromFileStrict')
pack = dict(type='PackInputs')

# "default" supervised augmentation, KCL's (spec_kcl.md section 4.1 [C]):
# RandomResizedCrop(224, scale 0.08-1) + horizontal flip.
default_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]

# MoCo v1 augmentation (spec_kcl.md section 4.1, CL column): RRC(224, scale
# 0.2-1), RandomGrayscale(0.2), ColorJitter(0.4, 0.4, 0.4, 0.4), flip.
mocov1_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0)),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(
        type='ColorJitter',
        brightness=0.4,
        contrast=0.4,
        saturation=0.4,
        hue=0.4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]

# SimAugment (spec_paco.md section 4, key view): RRC(224, 0.08-1),
# ColorJitter(0.4, 0.4, 0.4, 0) always, grayscale 0.2, Gaussian blur
# sigma ~ U[0.1, 2] with p 0.5, flip.
simaug_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0)),
    dict(
        type='ColorJitter',
        brightness=0.4,
        contrast=0.4,
        saturation=0.4,
        hue=0.0),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.5),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]

# RandAugment (spec_paco.md section 4, `randcls` query view): RRC(224,
# 0.08-1), flip, ColorJitter(0.4, 0.4, 0.4, 0) always, then timm
# rand-n2-m10-mstd0.5 with timm's default op set (`TimmRandAugment`, as in
# imagenet_randaug_simaug_views.py; mmpretrain's 'timm_increasing' set is a
# different op set), fill (124, 116, 104) RGB.
randaug_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='ColorJitter',
        brightness=0.4,
        contrast=0.4,
        saturation=0.4,
        hue=0.0),
    dict(
        type='TimmRandAugment',
        policies='timm',
        num_policies=2,
        magnitude_level=10,
        magnitude_std=0.5,
        hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
]

train_pipeline = [
    load,
    dict(type='MultiView', num_views=2, transforms=[default_view]),
    pack,
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
