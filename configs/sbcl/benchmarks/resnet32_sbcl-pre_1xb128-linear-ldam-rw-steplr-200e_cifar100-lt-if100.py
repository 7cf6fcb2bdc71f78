# SBCL stage 2, CIFAR-100-LT IF 100 (spec_sbcl.md sections 4, 5.2, 10.7):
# the released code's `linear_classify.py --train_rule DRW --epochs 200`:
# a cosine classifier (NormedLinear: U(-1, 1) renormed, no bias) on the
# frozen 64-d ResNet-32 feature, backbone in eval mode; LDAM with max margin
# 0.5 and s 30; effective-number class weights (beta 0.9999) applied from
# epoch 0 (the code's DRW switch is hard-coded on); instance-balanced
# sampling, batch 128, SGD lr 0.1 momentum 0.9 weight decay 0; linear lr
# warm-up over the first 5 epochs, x0.1 at epoch 140 and x0.01 at 180,
# 200 epochs; RandomCrop(32, pad 4) + flip. The code reports the best test
# epoch; we report the last one (5.2 decision).
#   python tools/train.py <this config> \
#       --cfg-options model.backbone.init_cfg.checkpoint=<stage-1 .pth>
_base_ = [
    '../../_base_/models/resnet32_cifar.py',
    '../../_base_/datasets/cifar100_lt.py',
    '../../_base_/default_runtime.py',
]

# the default work dir of the stage-1 run (tools/train.py without --work-dir)
stage1_checkpoint = \
    'work_dirs/sbcl_resnet32_1xb1024-1000e_cifar100-lt-if100/epoch_1000.pth'

model = dict(
    backbone=dict(
        frozen_stages=3,  # stem + all 3 stages
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    head=dict(
        _delete_=True,
        type='NormedLinearClsHead',
        num_classes=100,
        in_channels=64,
        loss=dict(type='LDAMLoss', max_m=0.5, s=30.0)))

train_dataloader = dict(batch_size=128, dataset=dict(imbalance_factor=100))

# many > 100, medium 20..100, few < 20 training images (section 6)
val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='ClassCountsHook'),
    dict(type='DRWHook', start_epoch=0, beta=0.9999),
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.))
param_scheduler = [
    # factors 0.2, 0.4, 0.6, 0.8 in epochs 0..3, 1.0 from epoch 4 on
    dict(type='LinearLR', start_factor=0.2, by_epoch=True, begin=0, end=5),
    dict(type='MultiStepLR', by_epoch=True, milestones=[140, 180],
         gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)

default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=2, save_last=True))
