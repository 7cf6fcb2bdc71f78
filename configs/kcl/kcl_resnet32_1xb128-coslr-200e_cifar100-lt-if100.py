# KCL stage 1 on CIFAR-100-LT (IF 100), ResNet-32. Not in the paper: the
# ImageNet-LT recipe (spec_kcl.md section 4.1) transposed to CIFAR [D]:
# k 6, tau 0.07, m 0.999, one linear projection 64 -> 128, SGD lr 0.1
# cosine per epoch, weight decay 5e-4, 200 epochs, batch 128 on 1 GPU,
# the LT papers' supervised augmentation (RandomCrop 32 pad 4 + flip) on
# both views. Queue 4,096 keys: it must stay below the 10,847 training
# images or stale copies of the same image become positives (section 9.20).
_base_ = [
    '../_base_/datasets/cifar100_lt_2view.py',
    '../_base_/schedules/sgd_coslr-200e.py',
]

model = dict(
    type='KCL',
    backbone=dict(type='ResNet32CIFAR', depth=32),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP', in_channels=64, out_channels=128, num_layers=1),
    queue_len=4096,
    feat_dim=128,
    momentum=0.001,
    loss=dict(
        type='KCLLoss',
        pos_k=6,
        temperature=0.07,
        pos_selection='random',
        variant='v1',
        seed=0))

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

auto_scale_lr = dict(base_batch_size=128)

default_hooks = dict(
    checkpoint=dict(interval=20, max_keep_ckpts=2, save_last=True))
train_dataloader = dict(drop_last=True)
