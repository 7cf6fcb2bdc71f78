# Faster R-CNN R50-C4 fine-tuned from an ltcls ResNet-50 on VOC07+12
# trainval, evaluated on VOC07 test: the MoCo detection protocol that KCL
# (spec_kcl.md §7.2, Table 11) and SBCL (spec_sbcl.md §6 "Detection",
# Table 3) follow. Detectron2 source of the recipe ([M]):
# facebookresearch/moco detection/configs/pascal_voc_R_50_C4_24k.yaml +
# Base-RCNN-C4-BN.yaml.
#
# Launch (the checkpoint is the one argument; it also initialises res5 in
# the RoI head):
#   tools/benchmarks/mmdetection/dist_train_c4.sh \
#       configs/benchmarks/mmdetection/voc0712/faster-rcnn_r50-c4_ms-24k_voc0712.py \
#       work_dirs/kcl_resnet50_8xb32-coslr-200e_imagenet-lt/epoch_200.pth 8
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py'

custom_imports = dict(
    imports=[
        'ltcls',  # weights_only checkpoint loading of ltcls Runner files
        'ltcls.engine.hooks',  # DetPreciseBNHook
        'mmpretrain.models.utils.res_layer_extra_norm',  # into mmdet MODELS
    ],
    allow_failed_imports=False)

# The ltcls checkpoint (stage 1 or 2 Runner checkpoint, or the output of
# tools/model_converters/extract_backbone.py --prefix backbone.); the
# launchers replace this placeholder.
pretrained = 'PASS_AN_LTCLS_CHECKPOINT.pth'

# torchvision-style ResNet: stride in the 3x3 conv (STRIDE_IN_1X1 False) and
# RGB input with ImageNet mean / std ([M] *_moco.yaml). Unlike mmselfsup's
# config, the preprocessor is put into the model (mmselfsup defines it at
# top level only, so its model keeps the caffe BGR preprocessor).
data_preprocessor = dict(
    type='DetDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32)

# "BN tuned" ([P] KCL appendix A; [M] RESNETS.NORM naiveSyncBN, FREEZE_AT 0):
# SyncBN trained in backbone and res5 head, nothing frozen, extra BN after
# res5 (Res5ROIHeadsExtraNorm = mmpretrain's ResLayerExtraNorm).
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
                prefix='backbone.')),
        bbox_head=dict(num_classes=20)),
    # [M] RPN.PRE_NMS_TOPK_TEST 6000, POST_NMS_TOPK_TEST 1000 (as the base)
    test_cfg=dict(rpn=dict(nms_pre=6000, max_per_img=1000)))

# [M] MIN_SIZE_TRAIN (480, 512, ..., 800), max 1333; MIN_SIZE_TEST 800.
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
# 16 images per iteration = 8 GPUs x 2 ([M] IMS_PER_BATCH 16)
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        # VOCDataset sets metainfo['dataset_type'] to VOC2007 / VOC2012
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

# Detectron2's PascalVOCDetectionEvaluator on VOC2007 test: 11-point AP at
# IoU 0.50, 0.55, ..., 0.95; reported AP50, AP (= the mean, `mAP` here) and
# AP75 (spec_kcl.md §5.5).
val_evaluator = dict(
    type='VOCMetric',
    metric='mAP',
    eval_mode='11points',
    iou_thrs=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
test_evaluator = val_evaluator

# [M] 24k iterations, lr x0.1 at 18k and 22k, linear warm-up over 100
# iterations from 0.001 x; evaluation at the end only (EVAL_PERIOD 0).
max_iters = 24000
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
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
# [M] BASE_LR 0.02, Detectron2 defaults: momentum 0.9, weight decay 1e-4,
# none on norm layers (SOLVER.WEIGHT_DECAY_NORM 0.0).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(norm_decay_mult=0.0))
auto_scale_lr = dict(enable=False, base_batch_size=16)

# [M] TEST.PRECISE_BN.ENABLED with Detectron2's NUM_ITER 200 x 16 images,
# once after the last iteration.
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
