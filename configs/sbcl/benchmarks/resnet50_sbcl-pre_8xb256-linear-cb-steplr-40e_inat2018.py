# SBCL stage 2, iNaturalist 2018: the ImageNet-LT protocol (spec_sbcl.md
# section 5.2; no released iNat recipe) with an 8,142-way classifier,
# evaluated on the official val set (3 images per class).
_base_ = [
    '../../_base_/datasets/inat2018.py',
    '../../_base_/schedules/sgd_steplr-40e.py',
]

stage1_checkpoint = \
    'work_dirs/sbcl_mocov2_resnet50_8xb32-400e_inat2018/epoch_400.pth'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(3, ),
        style='pytorch',
        frozen_stages=4,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=8142,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=dict(type='Normal', layer='Linear', std=0.01, bias=0.)))

train_dataloader = dict(
    batch_size=256,
    sampler=dict(_delete_=True, type='ClassAwareSampler',
                 num_sample_class=4))

val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator


default_hooks = dict(
    checkpoint=dict(interval=5, max_keep_ckpts=2, save_last=True))
