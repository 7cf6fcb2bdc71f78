# PaCo on CIFAR-100-LT, imbalance factor 100, ResNet-32 (Cui et al., ICCV
# 2021; spec_paco.md §4 table "CIFAR-100-LT R32", official
# sh/CIFAR100_train_imb0.01.sh): one GPU x 128, SGD lr 0.05 (script; not in
# the paper) momentum 0.9 wd 5e-4, 10-epoch linear warm-up then x0.1 at
# epochs 320 and 360, 400 epochs; tau 0.05, alpha 0.01 (script; paper 0.02),
# queue 1024 keys of dim 32, momentum 0.999, Balanced-Softmax center
# rebalance (Eq. 8); query view AutoAugment(CIFAR-10) + Cutout, key view
# CIFAR SimAugment (spec §4).
_base_ = [
    '../_base_/datasets/cifar100_lt.py',
    '../_base_/datasets/cifar_lt_autoaug_simaug_views.py',
    '../_base_/schedules/sgd_steplr-400e.py',
]

model = dict(
    type='PaCo',
    backbone=dict(type='ResNet32CIFAR', depth=32),
    neck=dict(type='GlobalAveragePooling'),
    # MLP G: Linear(64, 64) - BN - ReLU - Linear(64, 32), then l2 (spec §3)
    projector=dict(
        type='ProjectionMLP',
        in_channels=64,
        hid_channels=64,
        out_channels=32,
        norm_cfg=dict(type='BN1d')),
    # the centers: Linear(64, 100) with bias; inference = backbone + this
    head=dict(type='LinearClsHead', num_classes=100, in_channels=64),
    queue_len=1024,
    feat_dim=32,
    momentum=0.001,  # mmengine EMA weight: MoCo m = 0.999
    queue_init='empty',  # spec §2.6 decision; 'random' = official code
    loss=dict(
        type='PaCoLoss',
        alpha=0.01,  # script; the paper says 0.02
        temperature=0.05,
        center_temperature=1.0,  # code `supt`
        center_rebalance=True),
)

train_dataloader = dict(
    batch_size=128,
    drop_last=True,
    dataset=dict(pipeline=[
        dict(
            type='MultiView',
            num_views=[1, 1],
            transforms=[
                _base_.autoaug_cutout_view,  # query (encoder)
                _base_.simaug_view,  # key (momentum encoder)
            ]),
        dict(type='PackInputs'),
    ]),
)

val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator
# the default ClassCountsHook gives the log-prior of the centers + shot groups

optim_wrapper = dict(optimizer=dict(lr=0.05))
default_hooks = dict(
    checkpoint=dict(interval=20, max_keep_ckpts=2, save_last=True))
