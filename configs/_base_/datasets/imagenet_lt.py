# ImageNet-LT (Liu et al. 2019): 1,000 classes, 115,846 training images
# (1,280..5 per class), 20,000 val and 50,000 test images (balanced).
# data_root holds the split lists ImageNet_LT_{train,val,test}.txt
# ("train/n01440764/n01440764_190.JPEG 0") and ImageNet's class-foldered
# train/ and val/ (or symlinks to them). The LT papers (PaCo, ResCom, SBCL)
# report on ImageNet_LT_test.txt (spec_rescom.md §5); val is for monitoring.
dataset_type = 'ImageNetLT'
data_root = 'data/ImageNet_LT'

data_preprocessor = dict(
    num_classes=1000,
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
        ann_file='ImageNet_LT_train.txt',
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
        ann_file='ImageNet_LT_val.txt',
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
        ann_file='ImageNet_LT_test.txt',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = val_evaluator
