# SBCL stage 1 (representation), ImageNet-LT, ResNet-50 (Hou et al., ICCV
# 2023; spec_sbcl.md sections 2.6b, 3, 4, 5.1, 10.5, 10.7; the released
# moco/ code):
# - MoCo v2: momentum key encoder (m 0.999 = EMA weight 0.001), shuffle-BN,
#   a queue of 65,536 keys carrying class AND subclass ids, MLP projector
#   Linear(2048, 2048) - ReLU - Linear(2048, 128), L2-norm;
# - epochs 0-199: KCL warm-up (k 6, tau 0.07) over [own key, queue] (5.1);
# - epochs 200-399: SBCL queue loss, tau1 0.07, beta 0.2, no T1 rescaling,
#   per-class tau2 by Eq. 6 ('exp', the paper's form; the code uses a fixed
#   tau2 0.12: temperature_mode='fixed', fixed_tau2=0.12);
# - subclasses: delta 20 (M = 20, m_1 = 64 for the 1280-image class),
#   greedy balanced assignment, re-clustered before epochs 200, 205, ...,
#   395 (K = 5) on the momentum encoder's features (3.4, 3.5);
# - SGD lr 0.1 momentum 0.9 weight decay 1e-4, batch 256 (8 x 32), a
#   half-cosine per phase restarting at epoch 200 (CosineRestartLR) and the
#   optimizer state cleared at the switch (the code re-creates its
#   optimizer; reset_optimizer=True);
# - MoCo v2 augmentation on both views: RRC(224, 0.2-1), ColorJitter
#   (0.4, 0.4, 0.4, 0.1) p 0.8, grayscale p 0.2, Gaussian blur
#   sigma 0.1-2 p 0.5, flip (10.2); instance-balanced sampling.
# Stage 2: benchmarks/resnet50_sbcl-pre_8xb256-linear-cb-steplr-40e_imagenet-lt.py
_base_ = [
    '../_base_/datasets/imagenet_lt_2view.py',
    '../_base_/default_runtime.py',
]

# images are decoded as BGR (the preprocessor converts to RGB)
mocov2_view = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0)),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.4, hue=0.1)
    ]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=0.5),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]
train_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='MultiView', num_views=2, transforms=[mocov2_view]),
    dict(type='PackInputs'),
]
# shuffle-BN all-gathers the key batch: every rank needs the same size
train_dataloader = dict(
    batch_size=32, drop_last=True, dataset=dict(pipeline=train_pipeline))

num_classes = 1000
model = dict(
    type='MoCoSBCL',
    num_classes=num_classes,
    backbone=dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(3, ),
        style='pytorch', zero_init_residual=False),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP', in_channels=2048, hid_channels=2048,
        out_channels=128, num_layers=2),
    queue_len=65536,
    feat_dim=128,
    momentum=0.001,  # mmengine EMA weight: m = 1 - 0.001 = 0.999
    loss=dict(
        type='SBCLQueueLoss', tau1=0.07, default_tau2=0.12, beta=0.2,
        base_temperature=None, partner_in_class_term=True),
    warmup_loss=dict(type='KCLLoss', pos_k=6, temperature=0.07))

# no evaluation during stage 1 (no classifier yet)
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    # fill the queue before epoch 0 (keys with subclass -1)
    dict(type='QueueWarmupHook'),
    dict(
        type='SubclassClusteringHook',
        start_epoch=200,
        interval=5,
        clustering=dict(
            delta=20,
            algo='balanced_greedy',
            init='kmeans++',
            max_iters=50,
            tol=1e-3,
            temperature_mode='exp',
            alpha=10.0,
            tail_tau2='dynamic',
            seed=0),
        feature_loader=dict(
            feature_source='momentum',
            batch_size=128),
        reset_optimizer=True),
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineRestartLR', by_epoch=True, begin=0, end=400,
         periods=[200, 200], restart_weights=[1, 1], eta_min=0.),
]
train_cfg = dict(by_epoch=True, max_epochs=400)
auto_scale_lr = dict(base_batch_size=256)

default_hooks = dict(
    checkpoint=dict(interval=5, max_keep_ckpts=2, save_last=True))
