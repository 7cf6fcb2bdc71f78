# Hybrid-PSC, ResNet-50, iNaturalist 2018 (8,142 classes).
# Wang et al., "Contrastive Learning based Hybrid Networks for Long-Tailed
# Image Classification", CVPR 2021, Table 2: 68.10 top-1 (100 epochs).
# Recipe: /work/shared/specs/spec_hybrid.md sections 2-4 ([P] paper,
# [D] spec decision).
_base_ = [
    '../_base_/datasets/inat2018.py',
    '../_base_/datasets/inat2018_hybrid_views.py',
    '../_base_/schedules/sgd_steplr-100e.py',
]

model = dict(
    type='HybridPSC',
    # [P] ResNet-50 (torchvision layout), D_E = 2048
    backbone=dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    # f_e: Linear(2048, 2048) - ReLU - Linear(2048, 128), no BN [D] 9.8
    projector=dict(
        type='ProjectionMLP', in_channels=2048, hid_channels=2048,
        out_channels=128),
    # PSC, tau = 0.1 on iNaturalist [P]; one learnable prototype per class
    # (8,142 x 128), positive prototype excluded from the denominator
    loss=dict(type='PSCLoss', temperature=0.1),
    head=dict(
        type='LinearClsHead',
        num_classes=8142,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    separate_bn_passes=False,
)

# [P] batch size 100 "to fit two 2080Ti": 2 GPUs x 50 per branch; PSC
# branch instance-sampled (random PSC, Table 3), CE branch class-balanced
# ([D] section 9.11).
train_dataloader = dict(
    batch_size=50,
    sampler=dict(
        _delete_=True,
        type='DualStreamSampler',
        feat_sampling='instance',
        cls_sampling='class_balanced'),
    dataset=dict(
        _delete_=True,
        type='DualStreamDataset',
        dataset=dict(
            type='INaturalist2018',
            data_root='data/iNaturalist2018',
            ann_file='iNaturalist18_train.txt',
            pipeline=[]),
        feat_pipeline={{_base_.feat_pipeline}},
        cls_pipeline={{_base_.cls_pipeline}}),
)

val_evaluator = [dict(type='LongTailAccuracy', topk=(1, 5))]
test_evaluator = val_evaluator

# linear decay alpha = 1 - T / T_max on iNaturalist [P] section 4.2
custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='ClassCountsHook'),
    dict(type='CurriculumAlphaHook', schedule='linear'),
]

# [P] section 4.4: SGD momentum 0.9, wd 1e-4, lr 0.05, x0.1 at 60 and 80,
# 100 epochs.
optim_wrapper = dict(optimizer=dict(lr=0.05, weight_decay=1e-4))
train_cfg = dict(val_interval=5)
auto_scale_lr = dict(base_batch_size=100)

default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=5, max_keep_ckpts=3, save_last=True))
