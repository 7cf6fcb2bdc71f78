# Two-view (MultiView) training pipeline for DigitsLT (CPU proof runs).
# Digits are not flip-invariant, so each view is an independent random
# resized crop (scale 0.5-1) of the 32x32 image; nothing else.
_base_ = ['./digits_lt.py']

default_view = [
    dict(
        type='RandomResizedCrop',
        scale=32,
        crop_ratio_range=(0.5, 1.0),
        backend='pillow'),
]
train_pipeline = [
    dict(type='MultiView', num_views=2, transforms=[default_view]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
