# SBCL stage 1 (representation), CIFAR-100-LT IF 100, ResNet-32
# (Hou et al., ICCV 2023; spec_sbcl.md sections 2.6a, 3, 4, 5.1, 10.7).
# - in-batch two-view SupCon-style training, every view an anchor (2.6a);
# - ResNet-32 -> GAP (64-d) -> Linear(64, 64) - ReLU - Linear(64, 128) ->
#   L2-norm, no BN (section 4);
# - warm-up T0 = 10 epochs of SupCon (tau 0.1, base tau 0.1) (5.1);
# - then SBCL: tau1 0.1 with T1 x 0.1 / 0.07, beta 0.25, the anchor view's
#   partner in the class term (code; 9.2), per-class tau2 by Eq. 6
#   ('exp', alpha 10; the paper's form, 2.4 decision);
# - subclasses: m_c = max(1, floor(n_c / max(n_min, delta))), delta 10
#   (1051 subclasses at IF 100), Algorithm 1's greedy balanced assignment
#   with k-means++ seeding, <= 50 iterations, tol 1e-3 (3.2, 3.3 decision),
#   re-clustered before epochs 10, 20, ..., 990 (K = 10, 3.5), features =
#   online projector output of view 1 of the training augmentation (3.4);
# - SGD lr 0.5 momentum 0.9 weight decay 1e-4, batch 1024, clean linear
#   warm-up 0.01 -> 0.5 over 10 epochs (per iteration) then cosine to 5e-5
#   at epoch 1000 (5.1 decision), 1000 epochs;
# - SimCLR augmentation on each view: RRC(32, 0.2-1), flip, ColorJitter
#   (0.4, 0.4, 0.4, 0.1) p 0.8, grayscale p 0.2 (5.1, 10.2).
# The released code's own choices (plain cosine k-means, linear tau2 with
# P20/P80 clipping, tail classes at tau1) are
# sbcl-code_resnet32_1xb1024-1000e_cifar100-lt-if100.py.
# Stage 2: benchmarks/resnet32_sbcl-pre_1xb128-linear-ldam-rw-steplr-200e_cifar100-lt-if100.py
_base_ = [
    '../_base_/datasets/cifar100_lt_2view.py',
    '../_base_/default_runtime.py',
]

simclr_view = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.0),
         backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.4, hue=0.1)
    ]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.299, 0.587, 0.114)),
]
train_pipeline = [
    dict(type='MultiView', num_views=2, transforms=[simclr_view]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=1024,
    dataset=dict(imbalance_factor=100, pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))

model = dict(
    type='SBCL',
    num_classes=100,
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
        start_epoch=10,
        interval=10,
        clustering=dict(
            delta=10,
            algo='balanced_greedy',
            init='kmeans++',
            max_iters=50,
            tol=1e-3,
            temperature_mode='exp',
            alpha=10.0,
            tail_tau2='dynamic',
            seed=0)),
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.5, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.02, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=10, end=1000,
         eta_min=5e-5),
]
train_cfg = dict(by_epoch=True, max_epochs=1000)
auto_scale_lr = dict(base_batch_size=1024)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=50, max_keep_ckpts=2, save_last=True))
