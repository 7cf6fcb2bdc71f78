# cRT (Kang et al. 2020), ImageNet-LT, ResNet-50, stage 2: re-initialised
# linear classifier, class-balanced sampling, frozen CE backbone and BN;
# 10 epochs, cosine lr 0.1 (batch 256), weight decay 5e-4 (spec_kcl.md
# section 4.2, `main_sl.py --balanced --epochs 10`).
# Stage 1: tools/dist_train.sh configs/ce/ce_resnet50_8xb32-coslr-90e_imagenet-lt.py 8
# Stage 2: tools/dist_train.sh <this config> 8 \
#     [--cfg-options model.backbone.init_cfg.checkpoint=<stage-1 .pth>]
_base_ = '../ce/ce_resnet50_8xb32-coslr-90e_imagenet-lt.py'

stage1_checkpoint = \
    'work_dirs/ce_resnet50_8xb32-coslr-90e_imagenet-lt/epoch_90.pth'

model = dict(
    backbone=dict(
        frozen_stages=4,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=stage1_checkpoint,
            prefix='backbone.')),
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
