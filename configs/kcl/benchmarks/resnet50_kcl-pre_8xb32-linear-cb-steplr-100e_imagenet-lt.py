# KCL / FCL stage 2 on ImageNet-LT (spec_kcl.md section 4.2 and 9.10): the
# MoCo linear protocol with class-balanced sampling: a linear classifier
# 2048 -> 1000 (N(0, 0.01), bias 0) on the frozen ResNet-50 backbone in eval
# mode (BN frozen), SGD lr 10 (ImageNet-LT), momentum 0.9, weight decay 0,
# 100 epochs, lr x0.1 at epochs 60 and 80, batch 256 (8 x 32),
# ClassAwareSampler, RandomResizedCrop(224) + flip; test Resize 256 +
# CenterCrop 224 on ImageNet_LT_test.txt (section 9.11).
#   tools/dist_train.sh <this config> 8 --cfg-options \
#       model.backbone.init_cfg.checkpoint=<stage-1 .pth>
# (FCL: pass the FCL stage-1 checkpoint.)
_base_ = [
    '../../_base_/datasets/imagenet_lt.py',
    '../../_base_/schedules/sgd_steplr-100e.py',
]

# the default work dir of the stage-1 run (tools/train.py without --work-dir)
stage1_checkpoint = \
    'work_dirs/kcl_resnet50_8xb32-coslr-200e_imagenet-lt/epoch_200.pth'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        frozen_stages=4,  # stem + 4 stages: the whole backbone
        norm_eval=True,  # BN in eval mode
        init_cfg=dict(
            type='Pretrained',
            checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=dict(type='Normal', layer='Linear', std=0.01, bias=0.)))

train_dataloader = dict(sampler=dict(_delete_=True, type='ClassAwareSampler'))

# many > 100, medium 20..100, few < 20 training images (section 9.12)
val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator


default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=2, save_last=True))
