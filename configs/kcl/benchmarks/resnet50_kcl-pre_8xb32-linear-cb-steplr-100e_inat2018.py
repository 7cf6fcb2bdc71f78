# KCL / FCL stage 2 on iNaturalist 2018 (spec_kcl.md section 4.2): the MoCo
# linear protocol with class-balanced sampling and lr 30: a linear
# classifier 2048 -> 8142 (N(0, 0.01), bias 0) on the frozen ResNet-50
# backbone in eval mode, SGD momentum 0.9, weight decay 0, 100 epochs,
# lr x0.1 at epochs 60 and 80, batch 256 (8 x 32), ClassAwareSampler;
# top-1 on the iNat val set.
#   tools/dist_train.sh <this config> 8 --cfg-options \
#       model.backbone.init_cfg.checkpoint=<stage-1 .pth>
_base_ = [
    '../../_base_/datasets/inat2018.py',
    '../../_base_/schedules/sgd_steplr-100e.py',
]

stage1_checkpoint = \
    'work_dirs/kcl_resnet50_8xb32-coslr-200e_inat2018/epoch_200.pth'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        frozen_stages=4,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=8142,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=dict(type='Normal', layer='Linear', std=0.01, bias=0.)))

train_dataloader = dict(sampler=dict(_delete_=True, type='ClassAwareSampler'))

optim_wrapper = dict(optimizer=dict(lr=30.))

default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=2, save_last=True))
