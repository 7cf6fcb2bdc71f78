# Places-LT (Liu et al. 2019): 365 classes, 62,500 training images
# (4,980..5 per class), 7,300 val and 36,500 test images (balanced).
# data_root holds the split lists Places_LT_{train,val,test}.txt
# (the public OLTR / decoupling lists read "train/airfield/... 0" and
# "val/airfield/Places365_val_00003597.jpg 0"; copies made from the 256x256
# archive use "data_256/a/airfield/..."), and the Places365-Standard image
# folders they refer to (or symlinks): data_root/<listed path> must exist.
# See docs/en/data_preparation.md.
# Eval split: test_dataloader uses the 36,500-image Places_LT_test.txt of
# the OLTR benchmark; PaCo's code evaluates on Places_LT_val.txt (7,300)
# instead (spec_rescom.md §5, spec_paco.md): switch ann_file to compare.
dataset_type = 'PlacesLT'
data_root = 'data/Places_LT'

data_preprocessor = dict(
    num_classes=365,
    # ImageNet mean / std (RGB), images are decoded as BGR
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='RandomResizedCrop', scale=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

# 8 GPUs x 32 = global batch 256
train_dataloader = dict(
    batch_size=32,
    num_workers=5,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='Places_LT_train.txt',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=64,
    num_workers=5,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='Places_LT_val.txt',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))

test_dataloader = dict(
    batch_size=64,
    num_workers=5,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='Places_LT_test.txt',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = val_evaluator
