# Faster R-CNN R50-FPN fine-tuned from an ltcls ResNet-50 on VOC07+12
# trainval, evaluated on VOC07 test, with the papers' VOC protocol (the MoCo
# C4 recipe of faster-rcnn_r50-c4_ms-24k_voc0712.py: 24k iterations,
# multi-scale 480-800, SyncBN, Precise BN, 11-point AP at IoU .50:.95) on
# the FPN architecture; SyncBN also in the FPN and the 4conv1fc box head,
# as mmselfsup's R50-FPN transfer configs (openmmlab_style.md §1f).
# KCL / SBCL report R50-C4 only; this config has no paper target.
#
#   tools/benchmarks/mmdetection/dist_train_fpn.sh \
#       configs/benchmarks/mmdetection/voc0712/faster-rcnn_r50_fpn_ms-24k_voc0712.py \
#       work_dirs/kcl_resnet50_8xb32-coslr-200e_imagenet-lt/epoch_200.pth 8
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py'

custom_imports = dict(
    imports=[
        'ltcls',  # weights_only checkpoint loading of ltcls Runner files
        'ltcls.engine.hooks',  # DetPreciseBNHook
    ],
    allow_failed_imports=False)

# The ltcls checkpoint; the launchers replace this placeholder.
pretrained = 'PASS_AN_LTCLS_CHECKPOINT.pth'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    # (mmdet's FPN base is already pytorch-style with RGB ImageNet mean/std)
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead', norm_cfg=norm_cfg,
            num_classes=20)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 480), (1333, 512), (1333, 544), (1333, 576),
                (1333, 608), (1333, 640), (1333, 672), (1333, 704),
                (1333, 736), (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]

dataset_type = 'VOCDataset'
data_root = 'data/VOCdevkit/'
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        ignore_keys=['dataset_type'],
        datasets=[
            dict(
                type=dataset_type,
                data_root=data_root,
                ann_file='VOC2007/ImageSets/Main/trainval.txt',
                data_prefix=dict(sub_data_root='VOC2007/'),
                filter_cfg=dict(filter_empty_gt=True, min_size=32),
                pipeline=train_pipeline),
            dict(
                type=dataset_type,
                data_root=data_root,
                ann_file='VOC2012/ImageSets/Main/trainval.txt',
                data_prefix=dict(sub_data_root='VOC2012/'),
                filter_cfg=dict(filter_empty_gt=True, min_size=32),
                pipeline=train_pipeline)
        ]))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='VOC2007/ImageSets/Main/test.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='VOCMetric',
    metric='mAP',
    eval_mode='11points',
    iou_thrs=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
test_evaluator = val_evaluator

max_iters = 24000
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[18000, 22000],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(norm_decay_mult=0.0))
auto_scale_lr = dict(enable=False, base_batch_size=16)

custom_hooks = [
    dict(type='DetPreciseBNHook', _scope_='ltcls', num_samples=3200)
]

# crash-safe checkpoints (ltcls AtomicCheckpointHook: temporary file, fsync,
# rename; last_checkpoint and the removal of old ones only afterwards)
default_hooks = dict(
    checkpoint=dict(
        _scope_='ltcls',
        type='AtomicCheckpointHook',
        by_epoch=False,
        interval=2000,
        max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
