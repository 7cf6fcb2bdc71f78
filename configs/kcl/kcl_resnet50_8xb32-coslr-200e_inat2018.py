# KCL stage 1 on iNaturalist 2018, ResNet-50 (spec_kcl.md section 4.1):
# the ImageNet-LT recipe (Table 7: 200 epochs, batch 256, lr 0.1 cosine,
# tau 0.07, k 6, queue 65,536, m 0.999) with the iNat normalisation and the
# "default" augmentation the code forces on iNat. Weight decay is not
# stated for iNat: the code default 1e-4 (section 9.9). The epoch count is
# Table 7's (the paper gives no separate iNat schedule).
_base_ = [
    '../_base_/datasets/inat2018_2view.py',
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
    projector=dict(
        type='ProjectionMLP', in_channels=2048, out_channels=128,
        num_layers=1),
    queue_len=65536,
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

optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))

default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=2, save_last=True))
train_dataloader = dict(drop_last=True)
