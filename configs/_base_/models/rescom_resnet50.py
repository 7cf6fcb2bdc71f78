# ResCom at ImageNet scale (spec_rescom.md §3, §4): ResNet-50 Siamese
# encoder (both views in one forward), MLP Linear(2048, 2048) - BN1d - ReLU
# - Linear(2048, 128) + l2, shared linear classifier with bias,
# class-balanced queue; ResComLoss in the official-code variant (both views
# anchor, local in-batch contrast, mean(E)/E_y weights), tau 0.2, lambda
# 0.5, SiamBS. Q / Q_p / Q_n / beta for ImageNet-scale are not published:
# the spec's starting points are K * Q ~ 4,000 keys (Q = 4), Q_p = 1,
# Q_n ~ 0.4 (K - 1) Q, beta = 0.99 (ImageNet-LT ablation optimum).
model = dict(
    type='ResCom',
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
    queue_size_per_cls=4,
    feat_dim=128,
    queue_init='random',  # official code (spec §2.3 decision)
    loss=dict(
        type='ResComLoss',
        variant='code',
        temperature=0.2,
        con_weight=0.5,
        num_pos=1,
        num_neg=1600,  # 0.4 x (1000 - 1) x 4
        effective_num_beta=0.99,
        gather_in_batch=False,
        cls_loss=dict(type='BalancedSoftmaxLoss')),
)
