# cRT (Kang et al. 2020) on DigitsLT IF 50, stage 2: re-train a freshly
# initialised linear classifier with class-balanced sampling on the frozen
# backbone of the CE stage-1 model (spec_kcl.md section 4.2: 10 epochs,
# cosine).
# Stage 1: python tools/train.py configs/ce/ce_resnet32_1xb32-coslr-40e_digits-lt-if50.py
# Stage 2: python tools/train.py configs/crt/crt_resnet32_ce-pre_1xb32-cb-coslr-10e_digits-lt-if50.py \
#     [--cfg-options model.backbone.init_cfg.checkpoint=<stage-1 .pth>]
_base_ = '../ce/ce_resnet32_1xb32-coslr-40e_digits-lt-if50.py'

# the default work dir of the stage-1 run (tools/train.py without --work-dir)
stage1_checkpoint = \
    'work_dirs/ce_resnet32_1xb32-coslr-40e_digits-lt-if50/epoch_40.pth'

model = dict(
    backbone=dict(
        # stem + the 3 stages frozen, BN statistics frozen
        frozen_stages=3,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    # the classifier is NOT loaded: it starts from N(0, 0.01), bias 0
    head=dict(init_cfg=dict(type='Normal', layer='Linear', std=0.01)))

train_dataloader = dict(
    sampler=dict(_delete_=True, type='ClassAwareSampler'))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=10),
]
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=10))
