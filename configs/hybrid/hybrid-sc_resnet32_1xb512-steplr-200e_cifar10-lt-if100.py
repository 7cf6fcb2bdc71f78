# Hybrid-SC, ResNet-32, CIFAR-10-LT, imbalance factor 100.
# Wang et al., "Contrastive Learning based Hybrid Networks for Long-Tailed
# Image Classification", CVPR 2021, Table 1: 81.40 top-1.
# Recipe: /work/shared/specs/spec_hybrid.md sections 2-4 ([P] = paper,
# [D] = decision of the spec).
_base_ = [
    '../_base_/datasets/cifar10_lt.py',
    '../_base_/datasets/cifar_lt_hybrid_views.py',
    '../_base_/schedules/sgd_steplr-200e.py',
]

model = dict(
    type='HybridSC',
    # [P] ResNet-32 (CIFAR variant, option-A shortcuts [D] section 9.19)
    backbone=dict(type='ResNet32CIFAR', depth=32),
    # r = GAP feature (64-d), shared by both branches [P]
    neck=dict(type='GlobalAveragePooling'),
    # f_e: Linear(64, 64) - ReLU - Linear(64, 128), no BN, then L2 norm
    # ([P] one hidden layer; dims [D] section 9.8)
    projector=dict(
        type='ProjectionMLP', in_channels=64, hid_channels=64,
        out_channels=128),
    # SupCon L_out over the 2B views, tau = 0.1 [P]; mean over anchors and
    # no tau / tau_base factor [D] section 9.4
    loss=dict(type='SupConLoss', temperature=0.1),
    # f_c: one linear layer on the unnormalised r, plain CE [P]
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    # one forward pass for the views and the CE batch [D] section 9.12
    separate_bn_passes=False,
)

# Two independent streams in one step [P] section 4.3: 512 instance-sampled
# images x 2 views for the contrastive branch + 512 class-balanced images
# for the CE branch [D] section 9.3 (batch 512 per branch). Epoch = one
# pass of the instance stream [D] section 9.14.
train_dataloader = dict(
    batch_size=512,
    sampler=dict(
        _delete_=True,
        type='DualStreamSampler',
        feat_sampling='instance',
        cls_sampling='class_balanced'),
    dataset=dict(
        _delete_=True,
        type='DualStreamDataset',
        dataset=dict(
            type='CIFAR10LT',
            data_root='data/cifar10',
            split='train',
            imbalance_factor=100,
            profile='exp',
            selection='file_order',
            pipeline=[]),
        feat_pipeline={{_base_.feat_pipeline}},
        cls_pipeline={{_base_.cls_pipeline}}),
)

# The paper reports top-1 only (the base file's Accuracy); with 10 classes
# of 5000..50 images the shot groups are not informative.

# alpha = 1 - (T / T_max)^2, T the 0-based epoch [P] section 4.2
custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='CurriculumAlphaHook', schedule='parabolic'),
]

# [P] section 4.4: SGD momentum 0.9, wd 1e-4, lr 0.5, x0.1 at 120 and 160,
# 200 epochs, no warm-up [D] section 9.13. The PSC prototypes (if any) get
# the same lr and weight decay [D] section 2.4.
# (../_base_/schedules/sgd_steplr-200e.py)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=10, max_keep_ckpts=3, save_last=True))
