# View presets of PaCo / ResCom on CIFAR-10/100-LT (spec_paco.md §4,
# spec_rescom.md §4). No dataset here: a method config combines this file
# with cifar10_lt.py or cifar100_lt.py and builds its MultiView pipeline
# from `_base_.autoaug_cutout_view` / `_base_.simaug_view`. CIFAR arrays are
# RGB (hence the RGB grayscale weights).
# autoaug_cutout_view: RandomCrop(32, pad 4), flip, AutoAugment CIFAR-10
#   policy, Cutout(1 hole, 16 px) filled with 0 (the reference Cutout zeroes
#   the tensor before Normalize). PaCo query view, ResCom both views.
# simaug_view: RRC(32, scale 0.2-1), flip, ColorJitter(0.4, 0.4, 0.4, 0.1)
#   p 0.8, grayscale 0.2, Gaussian blur p 0.5. PaCo key view.
autoaug_cutout_view = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='CIFAR10AutoAugment'),
    dict(type='Cutout', shape=16, pad_val=0, prob=1.0),
]
simaug_view = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.0),
         backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.4, hue=0.1)
    ]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.299, 0.587, 0.114)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=0.5),
]
