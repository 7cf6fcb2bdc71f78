# Two-view (MultiView) training pipelines for CIFAR-100-LT. The CIFAR arrays
# are RGB (RGB grayscale weights).
#  - default_view: the LT papers' supervised augmentation, RandomCrop(32,
#    pad 4) + flip, applied independently to each view (KCL's "default"
#    two-view recipe, transposed to CIFAR; KCL has no CIFAR recipe).
#  - simaug_view: SupCon / PaCo key view for CIFAR (spec_paco.md section 4):
#    RRC(32, scale 0.2-1), flip, ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.8,
#    grayscale 0.2, Gaussian blur p 0.5.
# (PaCo's CIFAR query view uses AutoAugment's CIFAR-10 policy, which
# mmpretrain does not ship; the PaCo configs define it.)
_base_ = ['./cifar100_lt.py']

pack = dict(type='PackInputs')
default_view = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]
simaug_view = [
    dict(
        type='RandomResizedCrop',
        scale=32,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomApply',
        prob=0.8,
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.4,
                hue=0.1)
        ]),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.299, 0.587, 0.114)),
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.5),
]
train_pipeline = [
    dict(type='MultiView', num_views=2, transforms=[default_view]),
    pack,
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
