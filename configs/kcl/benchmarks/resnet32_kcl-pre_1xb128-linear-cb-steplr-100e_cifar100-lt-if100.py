# KCL / FCL stage 2 on CIFAR-100-LT (IF 100): the paper's stage-2 protocol
# (spec_kcl.md section 4.2: linear classifier on the frozen backbone in
# eval mode, class-balanced sampling, SGD momentum 0.9, weight decay 0,
# 100 epochs, lr x0.1 at 60 and 80) with the ImageNet-LT lr 10 [D: no CIFAR
# value in the paper]; batch 128, single-view LT augmentation.
#   python tools/train.py <this config> --cfg-options \
#       model.backbone.init_cfg.checkpoint=<stage-1 .pth>
_base_ = [
    '../../_base_/models/resnet32_cifar.py',
    '../../_base_/datasets/cifar100_lt.py',
    '../../_base_/schedules/sgd_steplr-100e.py',
]

stage1_checkpoint = \
    'work_dirs/kcl_resnet32_1xb128-coslr-200e_cifar100-lt-if100/epoch_200.pth'

model = dict(
    backbone=dict(
        frozen_stages=3,  # stem + the 3 stages
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    head=dict(
        num_classes=100,
        init_cfg=dict(type='Normal', layer='Linear', std=0.01, bias=0.)))

train_dataloader = dict(sampler=dict(_delete_=True, type='ClassAwareSampler'))

val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator

auto_scale_lr = dict(base_batch_size=128)

default_hooks = dict(
    checkpoint=dict(interval=20, max_keep_ckpts=2, save_last=True))
