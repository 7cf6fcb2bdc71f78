# Hybrid-SC on DigitsLT (imbalance factor 50): the CPU-sized proof run of
# the hybrid networks (issue 4). Same model as the CIFAR-LT configs
# (ResNet-32, projector 64-64-128, SupCon tau 0.1, parabolic alpha); the
# schedule, batch size and evaluator are those of the CE baseline
# configs/ce/ce_resnet32_1xb32-coslr-40e_digits-lt-if50.py so the numbers
# compare directly.
#   python tools/train.py configs/hybrid/hybrid-sc_resnet32_1xb32-coslr-40e_digits-lt-if50.py
_base_ = [
    '../_base_/datasets/digits_lt.py',
    '../_base_/schedules/sgd_coslr-40e.py',
]

model = dict(
    type='HybridSC',
    backbone=dict(type='ResNet32CIFAR', depth=32),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP', in_channels=64, hid_channels=64,
        out_channels=128),
    loss=dict(type='SupConLoss', temperature=0.1),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
)

# Digits are grey and not mirror-symmetric: no flip and no grayscale; the
# two contrastive views differ by colour (brightness / contrast) jitter as
# in the paper; the crops are milder than CIFAR's (the digit must survive).
crop = dict(type='RandomCrop', crop_size=32, padding=2)
contrastive_crop = dict(
    type='RandomResizedCrop',
    scale=32,
    crop_ratio_range=(0.6, 1.0),
    backend='pillow')
color_jitter = dict(
    type='RandomApply',
    transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4)],
    prob=0.8)
train_dataloader = dict(
    batch_size=32,
    sampler=dict(
        _delete_=True,
        type='DualStreamSampler',
        feat_sampling='instance',
        cls_sampling='class_balanced'),
    dataset=dict(
        _delete_=True,
        type='DualStreamDataset',
        dataset=dict(
            type='DigitsLT', split='train', imbalance_factor=50,
            pipeline=[]),
        feat_pipeline=[
            dict(
                type='MultiView',
                num_views=[1, 1],
                transforms=[[contrastive_crop],
                            [contrastive_crop, color_jitter]]),
            dict(type='PackInputs'),
        ],
        cls_pipeline=[crop, dict(type='PackInputs')]),
)

# Shot groups of the CE baseline: many > 60, few < 20 training images
# (many = {124, 80}, medium = {51, 33, 21}, few = {14, 9, 5, 3, 2}).
val_evaluator = [
    dict(type='LongTailAccuracy', topk=(1, 5), many_thr=60, few_thr=20),
]
test_evaluator = val_evaluator

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='ClassCountsHook'),
    dict(type='CurriculumAlphaHook', schedule='parabolic'),
]


default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=10, max_keep_ckpts=1, save_last=True))
