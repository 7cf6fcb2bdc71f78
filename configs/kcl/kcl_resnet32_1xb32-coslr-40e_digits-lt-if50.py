# KCL stage 1 on DigitsLT (IF 50): the CPU proof run (issue 4). The
# ImageNet-LT recipe (spec_kcl.md section 4.1: k 6, tau 0.07, m 0.999,
# one linear projection, lr 0.1 cosine per epoch, weight decay 5e-4,
# instance-balanced sampling, queue warm-up) scaled down: ResNet-32, 40
# epochs (the CE baseline's), batch 32 on 1 process, a 256-key queue (below
# the 343 training images, section 9.20; 256 = 8 batches).
#   python tools/train.py configs/kcl/kcl_resnet32_1xb32-coslr-40e_digits-lt-if50.py
# Stage 2: benchmarks/resnet32_kcl-pre_1xb32-linear-cb-steplr-30e_digits-lt-if50.py
_base_ = [
    '../_base_/datasets/digits_lt_2view.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='KCL',
    backbone=dict(type='ResNet32CIFAR', depth=32),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP', in_channels=64, out_channels=128, num_layers=1),
    queue_len=256,
    feat_dim=128,
    momentum=0.001,
    loss=dict(
        type='KCLLoss',
        pos_k=6,
        temperature=0.07,
        pos_selection='random',
        variant='v1',
        seed=0))

train_dataloader = dict(dataset=dict(imbalance_factor=50), drop_last=True)

val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='QueueWarmupHook'),
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=40, eta_min=0),
]
train_cfg = dict(by_epoch=True, max_epochs=40)
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=10, max_keep_ckpts=1, save_last=True))
