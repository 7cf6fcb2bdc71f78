# SBCL stage 1 on DigitsLT (IF 50): the CPU proof run (issue 6). The
# CIFAR-100-LT recipe (spec_sbcl.md sections 2.6a, 3, 5.1, 10.7: in-batch
# two views, ResNet-32 + Linear-ReLU-Linear 64-64-128 projector, SupCon
# warm-up (tau 0.1), then SBCL with tau1 0.1 (T1 x 0.1 / 0.07), beta 0.25,
# per-class tau2 (Eq. 6), greedy balanced subclasses with delta 10,
# re-clustered every K epochs) scaled down: 20 epochs, warm-up T0 = 4,
# K = 4 (clusterings before epochs 4, 8, 12, 16), batch 32 on 1 process.
# DigitsLT IF 50 has 124..2 images per class: M = max(2, 10) = 10 gives
# 12 + 8 + 5 + 3 + 2 + 5 x 1 = 35 subclasses.
#   python tools/train.py configs/sbcl/sbcl_resnet32_1xb32-coslr-20e_digits-lt-if50.py
# Stage 2: benchmarks/resnet32_sbcl-pre_1xb32-linear-ldam-rw-steplr-20e_digits-lt-if50.py
_base_ = [
    '../_base_/datasets/digits_lt_2view.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='SBCL',
    num_classes=10,
    backbone=dict(type='ResNet32CIFAR', depth=32),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP', in_channels=64, hid_channels=64,
        out_channels=128, num_layers=2),
    loss=dict(
        type='SBCLLoss', tau1=0.1, base_temperature=0.07, beta=0.25,
        partner_in_class_term=True),
    warmup_loss=dict(type='SupConLoss', temperature=0.1,
                     base_temperature=0.1))

train_dataloader = dict(dataset=dict(imbalance_factor=50), drop_last=True)

# no evaluation during stage 1 (no classifier yet)
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(
        type='SubclassClusteringHook',
        start_epoch=4,
        interval=4,
        clustering=dict(
            delta=10,
            algo='balanced_greedy',
            init='kmeans++',
            max_iters=50,
            tol=1e-3,
            temperature_mode='exp',
            alpha=10.0,
            seed=0)),
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=2, end=20,
         eta_min=1e-4),
]
train_cfg = dict(by_epoch=True, max_epochs=20)
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=4, max_keep_ckpts=2, save_last=True))
