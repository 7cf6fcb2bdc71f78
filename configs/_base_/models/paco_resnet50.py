# PaCo at ImageNet scale (spec_paco.md §3, §4): ResNet-50, MLP G =
# Linear(2048, 2048) - BN1d - ReLU - Linear(2048, 128) + l2, centers =
# Linear(2048, C) with bias (= the classifier used at inference), queue
# 8192 x 128, momentum encoder m = 0.999 with shuffle-BN; PaCoLoss tau 0.2,
# alpha 0.05, beta = gamma = 1, centers unscaled (code `supt` = 1),
# Balanced-Softmax center rebalance (counts from ClassCountsHook).
model = dict(
    type='PaCo',
    backbone=dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        norm_cfg=dict(type='BN1d')),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048),
    queue_len=8192,
    feat_dim=128,
    momentum=0.001,  # mmengine EMA weight: MoCo m = 0.999
    queue_init='empty',  # spec §2.6 decision; 'random' = official code
    shuffle_bn=True,
    loss=dict(
        type='PaCoLoss',
        alpha=0.05,
        center_weight=1.0,  # beta
        denominator_weight=1.0,  # gamma
        temperature=0.2,
        center_temperature=1.0,  # code `supt`; the paper suggests tau
        center_rebalance=True,
        gather_bank=False),  # per-GPU in-batch bank, as the code
)
