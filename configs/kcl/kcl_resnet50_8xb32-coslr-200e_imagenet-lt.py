# KCL stage 1 (representation learning) on ImageNet-LT, ResNet-50
# (Kang et al., ICLR 2021; spec_kcl.md sections 2.4, 3, 4.1, Table 7):
# MoCo v1 + k = 6 same-class positives from a 65,536-key labelled queue,
# tau 0.07, EMA momentum m 0.999, one linear 2048 -> 128 projection, the
# "default" supervised augmentation on both views, 200 epochs, global batch
# 256 (8 x 32), SGD lr 0.1 momentum 0.9, weight decay 5e-4 (code README for
# ImageNet-LT), cosine per epoch to 0 with no warm-up, instance-balanced
# sampling, queue warm-up before epoch 0 (section 9.5).
# Positives: pos_selection='random' = the paper's "randomly selecting k
# positives", made deterministic (hash of seed, step, anchor, slot) and
# rank-invariant; 'topk' reproduces the official code (section 2.4).
# Stage 2: benchmarks/resnet50_kcl-pre_8xb32-linear-cb-steplr-100e_imagenet-lt.py
_base_ = [
    '../_base_/datasets/imagenet_lt_2view.py',
    '../_base_/schedules/sgd_coslr-200e.py',
]

model = dict(
    type='KCL',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        zero_init_residual=False),
    neck=dict(type='GlobalAveragePooling'),
    # MoCo v1: the ResNet fc replaced by a 128-d output (section 3, 9.8)
    projector=dict(
        type='ProjectionMLP', in_channels=2048, out_channels=128,
        num_layers=1),
    queue_len=65536,
    feat_dim=128,
    momentum=0.001,  # mmengine EMA weight: m = 1 - 0.001 = 0.999
    loss=dict(
        type='KCLLoss',
        pos_k=6,
        temperature=0.07,
        pos_selection='random',
        variant='v1',
        seed=0))

# no evaluation during stage 1 (no classifier yet)
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    # fill the queue with K / B batches before epoch 0 (code's
    # init_key_queue): no optimiser step, no momentum update
    dict(type='QueueWarmupHook'),
]

default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=2, save_last=True))
# shuffle-BN all-gathers the key batch: every rank needs the same size
train_dataloader = dict(drop_last=True)
