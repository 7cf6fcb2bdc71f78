# iNaturalist 2018: 8,142 classes, 437,513 training images (1,000..2 per
# class), 24,426 validation images (3 per class), which are the test set of
# the LT papers (spec_rescom.md §5).
# data_root holds train_val2018/ and either the LT papers' list files
# iNaturalist18_{train,val}.txt ("train_val2018/Plantae/7477/<id>.jpg 7477")
# or the official train2018.json / val2018.json (set ann_file to them).
dataset_type = 'INaturalist2018'
data_root = 'data/iNaturalist2018'
train_ann_file = 'iNaturalist18_train.txt'  # or 'train2018.json'
val_ann_file = 'iNaturalist18_val.txt'  # or 'val2018.json'

data_preprocessor = dict(
    num_classes=8142,
    # iNat 2018 mean (0.466, 0.471, 0.380) / std (0.195, 0.194, 0.192) x 255
    # (RGB) of the KCL / PaCo / ResCom code (spec_kcl.md §4, spec_rescom.md
    # §4); images are decoded as BGR
    mean=[118.83, 120.105, 96.9],
    std=[49.725, 49.47, 48.96],
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
        ann_file=train_ann_file,
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
        ann_file=val_ann_file,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
