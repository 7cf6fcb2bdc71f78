# KCL / FCL stage 2 on DigitsLT (IF 50), CPU proof run: the paper's
# stage-2 protocol (spec_kcl.md section 4.2: linear classifier N(0, 0.01)
# on the frozen backbone in eval mode, class-balanced sampling, SGD
# momentum 0.9, weight decay 0, lr x0.1 at 60% and 80% of training, lr 10
# as for ImageNet-LT) shortened to 30 epochs (steps at 18 / 24).
# Evaluated like the CE baseline (shot groups many > 60, few < 20).
#   python tools/train.py <this config> \
#       [--cfg-options model.backbone.init_cfg.checkpoint=<stage-1 .pth>]
_base_ = [
    '../../_base_/models/resnet32_cifar.py',
    '../../_base_/datasets/digits_lt.py',
    '../../_base_/default_runtime.py',
]

# the default work dir of the stage-1 run (tools/train.py without --work-dir)
stage1_checkpoint = \
    'work_dirs/kcl_resnet32_1xb32-coslr-40e_digits-lt-if50/epoch_40.pth'

model = dict(
    backbone=dict(
        frozen_stages=3,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    head=dict(
        num_classes=10,
        init_cfg=dict(type='Normal', layer='Linear', std=0.01, bias=0.)))

train_dataloader = dict(
    dataset=dict(imbalance_factor=50),
    sampler=dict(_delete_=True, type='ClassAwareSampler'))

# as the CE baseline (configs/ce/ce_resnet32_1xb32-coslr-40e_digits-lt-if50.py)
val_evaluator = [
    dict(type='LongTailAccuracy', topk=(1, 5), many_thr=60, few_thr=20),
    dict(type='Balancedness', sigma=0.2),
]
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=10., momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[18, 24], gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=10, max_keep_ckpts=1, save_last=True))
