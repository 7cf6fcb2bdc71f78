# SBCL stage 2 on DigitsLT (IF 50), CPU proof run: the CIFAR-100-LT
# stage-2 protocol (spec_sbcl.md section 5.2: cosine classifier on the
# frozen 64-d backbone feature (backbone in eval mode), LDAM with max margin
# 0.5 and s 30, effective-number class weights (beta 0.9999) from epoch 0,
# instance-balanced sampling, SGD lr 0.1 momentum 0.9 weight decay 0, linear
# lr warm-up over the first epochs, x0.1 at 70% and x0.01 at 90%) shortened
# to 20 epochs (steps at 14 / 18). Evaluated like the CE baseline
# (shot groups many > 60, few < 20).
#   python tools/train.py <this config> \
#       [--cfg-options model.backbone.init_cfg.checkpoint=<stage-1 .pth>]
_base_ = [
    '../../_base_/models/resnet32_cifar.py',
    '../../_base_/datasets/digits_lt.py',
    '../../_base_/default_runtime.py',
]

# the default work dir of the stage-1 run (tools/train.py without --work-dir)
stage1_checkpoint = \
    'work_dirs/sbcl_resnet32_1xb32-coslr-20e_digits-lt-if50/epoch_20.pth'

model = dict(
    backbone=dict(
        frozen_stages=3,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    head=dict(
        _delete_=True,
        type='NormedLinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='LDAMLoss', max_m=0.5, s=30.0)))

train_dataloader = dict(dataset=dict(imbalance_factor=50))

val_evaluator = [
    dict(type='LongTailAccuracy', topk=(1, 5), many_thr=60, few_thr=20),
    dict(type='Balancedness', sigma=0.2),
]
test_evaluator = val_evaluator

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='ClassCountsHook'),
    # the SBCL code re-weights from the first epoch (DRW switch hard-coded)
    dict(type='DRWHook', start_epoch=0, beta=0.9999),
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.2, by_epoch=True, begin=0, end=2),
    dict(type='MultiStepLR', by_epoch=True, milestones=[14, 18], gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=10, max_keep_ckpts=1, save_last=True))
