# Mask R-CNN R50-C4 fine-tuned from an ltcls ResNet-50 on COCO train2017,
# evaluated on val2017 (box and mask AP): the MoCo detection protocol that
# KCL follows (spec_kcl.md §7.2), Detectron2 1x schedule (90k iterations).
# The papers' COCO numbers (KCL Table 12) use the 2x schedule:
# mask-rcnn_r50-c4_ms-2x_coco.py. Detectron2 source of the recipe ([M]):
# facebookresearch/moco detection/configs/coco_R_50_C4_2x.yaml +
# Base-RCNN-C4-BN.yaml.
#
#   tools/benchmarks/mmdetection/dist_train_c4.sh \
#       configs/benchmarks/mmdetection/coco/mask-rcnn_r50-c4_ms-1x_coco.py \
#       work_dirs/kcl_resnet50_8xb32-coslr-200e_imagenet-lt/epoch_200.pth 8
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py'

custom_imports = dict(
    imports=[
        'ltcls',  # weights_only checkpoint loading of ltcls Runner files
        'ltcls.engine.hooks',  # DetPreciseBNHook
        'mmpretrain.models.utils.res_layer_extra_norm',  # into mmdet MODELS
    ],
    allow_failed_imports=False)

# The ltcls checkpoint; the launchers replace this placeholder (it also
# initialises res5 in the RoI head).
pretrained = 'PASS_AN_LTCLS_CHECKPOINT.pth'

# torchvision-style ResNet, RGB ImageNet mean / std ([M] *_moco.yaml).
data_preprocessor = dict(
    type='DetDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_mask=True,
    pad_size_divisor=32)

# "BN tuned": SyncBN trained in backbone and res5 head, nothing frozen
# (FREEZE_AT 0), extra BN after res5 (Res5ROIHeadsExtraNorm).
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    roi_head=dict(
        shared_head=dict(
            type='ResLayerExtraNorm',
            norm_cfg=norm_cfg,
            norm_eval=False,
            style='pytorch',
            init_cfg=dict(
                type='Pretrained', checkpoint=pretrained,
                prefix='backbone.'))),
    # [M] RPN.PRE_NMS_TOPK_TEST 6000, POST_NMS_TOPK_TEST 1000 (as the base)
    test_cfg=dict(rpn=dict(nms_pre=6000, max_per_img=1000)))

# [M] MIN_SIZE_TRAIN (640, 672, ..., 800), max 1333; MIN_SIZE_TEST 800
# (the test pipeline of the base).
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
# 16 images per iteration = 8 GPUs x 2 ([M] IMS_PER_BATCH 16)
train_dataloader = dict(
    batch_size=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))

# Detectron2 1x: 90k iterations, lr x0.1 at 60k and 80k, linear warm-up over
# 1000 iterations from 0.001 x; evaluation at the end only.
max_iters = 90000
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[60000, 80000],
        gamma=0.1)
]
# [M] BASE_LR 0.02; Detectron2: momentum 0.9, wd 1e-4, none on norm layers.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(norm_decay_mult=0.0))
auto_scale_lr = dict(enable=False, base_batch_size=16)

# [M] TEST.PRECISE_BN.ENABLED: 200 x 16 images, after the last iteration.
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
        interval=10000,
        max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
