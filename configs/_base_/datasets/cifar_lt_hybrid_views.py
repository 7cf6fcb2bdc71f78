# Hybrid-SC / Hybrid-PSC data pipelines for CIFAR-10/100-LT (Wang et al.
# CVPR 2021; spec_hybrid.md section 4.5). Inherit it AFTER
# cifar{10,100}_lt.py; the method config builds the two-stream dataloader
# (DualStreamSampler + DualStreamDataset) from `feat_pipeline` and
# `cls_pipeline`.
#
# [P] base set shared by both branches: 32x32 random crop, horizontal flip,
#     random grayscale p=0.2; the two contrastive views differ by "with and
#     without colour jitter"; the classifier branch has no colour jitter.
# [D] crop of the contrastive views: RandomResizedCrop(32, scale 0.2-1)
#     (SupCon); crop of the classifier view: RandomCrop(32, pad 4)
#     (LDAM/BBN); jitter: RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1),
#     p=0.8) (SupCon). The CIFAR arrays are RGB, hence the RGB grayscale
#     weights.
gray = dict(
    type='RandomGrayscale',
    prob=0.2,
    keep_channels=True,
    channel_weights=(0.299, 0.587, 0.114))
contrastive_crop = dict(
    type='RandomResizedCrop',
    scale=32,
    crop_ratio_range=(0.2, 1.0),
    backend='pillow')
flip = dict(type='RandomFlip', prob=0.5, direction='horizontal')
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

view_plain = [contrastive_crop, flip, gray]
view_jitter = [contrastive_crop, flip, color_jitter, gray]
feat_pipeline = [
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[view_plain, view_jitter]),
    dict(type='PackInputs'),
]
cls_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    flip,
    gray,
    dict(type='PackInputs'),
]
