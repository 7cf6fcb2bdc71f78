# ResCom on DigitsLT (imbalance factor 50): the CPU-sized proof run of
# issue 5. Same model as the CIFAR-LT configs (ResNet-32, 64-64-32 MLP with
# BN, tau 0.2, lambda 0.5, SiamBS, official-code variant); the schedule,
# batch size, shot thresholds and evaluator are those of the CE / Balanced
# Softmax baselines (configs/ce/ce_resnet32_1xb32-coslr-40e_digits-lt-if50.py).
# Queue: 8 keys per class (80 keys for 343 images); Q_p = 1 and Q_n = 28,
# the CIFAR-100-LT ratio Q_n / ((K - 1) Q) = 400 / 990 (spec_rescom.md §4).
#   python tools/train.py configs/rescom/rescom_resnet32_1xb32-coslr-40e_digits-lt-if50.py
_base_ = [
    '../_base_/datasets/digits_lt.py',
    '../_base_/schedules/sgd_coslr-40e.py',
]

model = dict(
    type='ResCom',
    backbone=dict(type='ResNet32CIFAR', depth=32),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP',
        in_channels=64,
        hid_channels=64,
        out_channels=32,
        norm_cfg=dict(type='BN1d')),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64),
    queue_size_per_cls=8,
    feat_dim=32,
    loss=dict(
        type='ResComLoss',
        variant='code',
        temperature=0.2,
        con_weight=0.5,
        num_pos=1,
        num_neg=28,
        effective_num_beta=0.999999,  # released CIFAR config (spec §2.2)
        cls_loss=dict(type='BalancedSoftmaxLoss')),
)

# Same augmentation for both views (spec_rescom.md §4), digit-safe: no
# flip, no grayscale, no invert.
crop = dict(
    type='RandomResizedCrop',
    scale=32,
    crop_ratio_range=(0.6, 1.0),
    backend='pillow')
color_jitter = dict(
    type='RandomApply',
    transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4)],
    prob=0.8)
digit_randaug = dict(
    type='RandAugment',
    policies=[
        dict(type='AutoContrast'),
        dict(type='Rotate', magnitude_range=(0, 20)),
        dict(type='Posterize', magnitude_range=(4, 2)),
        dict(type='Contrast', magnitude_range=(0, 0.9)),
        dict(type='Brightness', magnitude_range=(0, 0.9)),
        dict(type='Sharpness', magnitude_range=(0, 0.9)),
        dict(type='Shear', magnitude_range=(0, 0.2), direction='horizontal'),
        dict(type='Shear', magnitude_range=(0, 0.2), direction='vertical'),
        dict(type='Translate', magnitude_range=(0, 0.15),
             direction='horizontal'),
        dict(type='Translate', magnitude_range=(0, 0.15),
             direction='vertical'),
    ],
    num_policies=2,
    magnitude_level=10,
    magnitude_std=0.5,
    hparams=dict(pad_val=0))
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        imbalance_factor=50,
        pipeline=[
            dict(
                type='MultiView',
                num_views=2,
                transforms=[[crop, color_jitter, digit_randaug]]),
            dict(type='PackInputs'),
        ]),
)

# Shot groups of the CE baseline: many > 60, few < 20 training images.
val_evaluator = [
    dict(type='LongTailAccuracy', topk=(1, 5), many_thr=60, few_thr=20),
]
test_evaluator = val_evaluator


default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=10, max_keep_ckpts=1, save_last=True))
