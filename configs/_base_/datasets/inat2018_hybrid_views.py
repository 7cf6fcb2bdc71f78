# Hybrid-SC / Hybrid-PSC data pipelines for iNaturalist 2018 (Wang et al.
# CVPR 2021; spec_hybrid.md section 4.5: "similar" to CIFAR with 224x224
# random crops). Inherit it AFTER inat2018.py.
#
# [P] shared base set: random crop 224, horizontal flip, random grayscale
#     p=0.2; contrastive views with / without colour jitter; classifier
#     view without jitter.
# [D] RandomResizedCrop(224) for every view; jitter as on CIFAR (SupCon).
#     Images are decoded BGR, hence the BGR grayscale weights.
load = dict(type='LoadImageFromFileStrict')
crop = dict(type='RandomResizedCrop', scale=224, backend='pillow')
flip = dict(type='RandomFlip', prob=0.5, direction='horizontal')
gray = dict(
    type='RandomGrayscale',
    prob=0.2,
    keep_channels=True,
    channel_weights=(0.114, 0.587, 0.2989))
color_jitter = dict(
    type='RandomApply',
    transforms=[
        dict(
            type='ColorJitter',
            brightness=0.4,
            contrast=0.4,
            saturation=0.4,
            hue=0.1)
    ],
    prob=0.8)

feat_pipeline = [
    load,
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[crop, flip, gray], [crop, flip, color_jitter, gray]]),
    dict(type='PackInputs'),
]
cls_pipeline = [load, crop, flip, gray, dict(type='PackInputs')]
