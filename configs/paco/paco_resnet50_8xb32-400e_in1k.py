# PaCo on full ImageNet (ILSVRC-2012), ResNet-50 (spec_paco.md §4, official
# Full-ImageNet/sh/train_resnet50.sh): 8 x 32 = 256, SGD lr 0.04 wd 1e-4,
# 10-epoch warm-up + cosine, 400 epochs, tau 0.2, alpha 0.05, queue 8192;
# NO center rebalance (balanced data: "we remove the rebalance in center
# learning"); RandAugment query / SimAugment key. Paper: 79.3 (Table 7).
_base_ = [
    '../_base_/models/paco_resnet50.py',
    '../_base_/datasets/imagenet_randaug_simaug_views.py',
    '../_base_/schedules/sgd_coslr-400e.py',
]

model = dict(loss=dict(center_rebalance=False))

data_preprocessor = dict(
    num_classes=1000,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
dataset_type = 'ImageNet'  # mmpretrain's
data_root = 'data/imagenet'
train_dataloader = dict(
    batch_size=32,
    num_workers=5,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(
                type='MultiView',
                num_views=[1, 1],
                transforms=[_base_.randaug_view, _base_.simaug_view]),
            dict(type='PackInputs'),
        ]))
val_dataloader = dict(
    batch_size=64,
    num_workers=5,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='ResizeEdge', scale=256, edge='short'),
            dict(type='CenterCrop', crop_size=224),
            dict(type='PackInputs'),
        ]))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=0.04, weight_decay=1e-4))
auto_scale_lr = dict(base_batch_size=256)
default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=2, save_last=True))
