# cRT (Kang et al. 2020), CIFAR-100-LT IF 100, stage 2: a re-initialised
# linear classifier trained with class-balanced sampling on the frozen CE
# backbone (spec_kcl.md section 4.2: 10 epochs, cosine lr 0.1, weight decay
# 5e-4, frozen BN).
# Stage 1: tools/train.py configs/ce/ce_resnet32_1xb128-steplr-200e_cifar100-lt-if100.py
# Stage 2: tools/train.py <this config> \
#     [--cfg-options model.backbone.init_cfg.checkpoint=<stage-1 .pth>]
_base_ = '../ce/ce_resnet32_1xb128-steplr-200e_cifar100-lt-if100.py'

# default work dir of the stage-1 run (tools/train.py without --work-dir)
stage1_checkpoint = \
    'work_dirs/ce_resnet32_1xb128-steplr-200e_cifar100-lt-if100/epoch_200.pth'

model = dict(
    backbone=dict(
        frozen_stages=3,  # stem and the 3 stages
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    # classifier not loaded: N(0, 0.01), bias 0
    head=dict(init_cfg=dict(type='Normal', layer='Linear', std=0.01)))

train_dataloader = dict(
    sampler=dict(_delete_=True, type='ClassAwareSampler'))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=10),
]
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=5)
default_hooks = dict(checkpoint=dict(interval=5))
