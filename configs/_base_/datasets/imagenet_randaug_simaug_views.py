# View presets of PaCo / ResCom at 224 px (ImageNet-LT, iNaturalist 2018,
# Places-LT, full ImageNet); spec_paco.md §4, spec_rescom.md §4. No dataset
# here: a method config combines this file with a dataset base config and
# builds its MultiView pipeline from these lists (`_base_.randaug_view`...).
# Images are decoded as BGR: BGR grayscale weights and fill values.
# RandAugment is timm's *default* op set `rand-n2-m10-mstd0.5` that the
# PaCo / ResCom code use (TimmRandAugment, not mmpretrain's
# 'timm_increasing'); Translate 0.45 x 224 = timm's translate_const 100;
# fill = ImageNet mean (124, 116, 104) RGB.
ra_fill = [104, 116, 124]  # BGR

# PaCo key view, "SimAugment": RRC(224, 0.08-1), ColorJitter(0.4, 0.4, 0.4,
# 0) always, grayscale 0.2, Gaussian blur sigma ~ U[0.1, 2] p 0.5, flip.
simaug_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0)),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4,
         hue=0.0),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=0.5),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]

# PaCo query view, `randcls`: RRC(224, 0.08-1), flip, ColorJitter(0.4, 0.4,
# 0.4, 0) always, RandAugment n2 m10 mstd0.5.
randaug_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4,
         hue=0.0),
    dict(type='TimmRandAugment', policies='timm', num_policies=2,
         magnitude_level=10, magnitude_std=0.5,
         hparams=dict(pad_val=ra_fill, interpolation='bicubic')),
]

# PaCo `randclsstack` (StackedRandAugment): the SimAugment ops followed by
# RandAugment (n2 m10; ResNeXt-101 uses n3, full-ImageNet R200 n3 m12).
stacked_randaug_view = simaug_view + [
    dict(type='TimmRandAugment', policies='timm', num_policies=2,
         magnitude_level=10, magnitude_std=0.5,
         hparams=dict(pad_val=ra_fill, interpolation='bicubic')),
]

# ResCom, both views: RRC(224, 0.08-1), flip, ColorJitter(0.4, 0.4, 0.4, 0)
# always, grayscale 0.2, RandAugment n2 m10 mstd0.5.
rescom_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4,
         hue=0.0),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='TimmRandAugment', policies='timm', num_policies=2,
         magnitude_level=10, magnitude_std=0.5,
         hparams=dict(pad_val=ra_fill, interpolation='bicubic')),
]

# ResCom Places-LT fine-tune ("without additional augmentation", spec
# decision): RRC + flip + ColorJitter(0.4, 0.4, 0.4, 0), both views.
plain_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4,
         hue=0.0),
]
