# Mask R-CNN R50-FPN fine-tuned from an ltcls ResNet-50 on COCO train2017,
# evaluated on val2017 (box and mask AP), 1x (12 epochs): the
# self-supervised transfer recipe of mmselfsup's
# configs/benchmarks/mmdetection/coco/mask-rcnn_r50_fpn_ms-1x_coco.py
# (openmmlab_style.md §1f): SyncBN trained in backbone, FPN, 4conv1fc box
# head and mask head, nothing frozen, multi-scale 640-800 training.
# KCL / SBCL report R50-C4 only; this config has no paper target.
#
#   tools/benchmarks/mmdetection/dist_train_fpn.sh \
#       configs/benchmarks/mmdetection/coco/mask-rcnn_r50_fpn_ms-1x_coco.py \
#       work_dirs/kcl_resnet50_8xb32-coslr-200e_imagenet-lt/epoch_200.pth 8
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

# weights_only checkpoint loading of ltcls Runner files (also under
# mmdet's own tools)
custom_imports = dict(imports=['ltcls'], allow_failed_imports=False)

# The ltcls checkpoint; the launchers replace this placeholder.
pretrained = 'PASS_AN_LTCLS_CHECKPOINT.pth'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    # (mmdet's FPN base is already pytorch-style with RGB ImageNet mean/std)
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736),
                (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# mmdet 1x: 12 epochs, lr x0.1 after epochs 8 and 11; Detectron2's 1000
# warm-up iterations (spec_kcl.md §7.2) instead of mmdet's 500.
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
# Detectron2 defaults (the protocol's solver): no weight decay on norms.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(norm_decay_mult=0.0))

# crash-safe checkpoints (ltcls AtomicCheckpointHook: temporary file, fsync,
# rename; last_checkpoint and the removal of old ones only afterwards)
default_hooks = dict(
    checkpoint=dict(_scope_='ltcls', type='AtomicCheckpointHook'))
