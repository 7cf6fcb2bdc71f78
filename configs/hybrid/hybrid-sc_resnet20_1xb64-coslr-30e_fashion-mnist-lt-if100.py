# Hybrid-SC on Fashion-MNIST-LT IF 100 (issue 14 benchmark). The CIFAR-LT
# model (projector 64-64-128, SupCon tau 0.1, parabolic alpha curriculum
# from the contrastive to the classifier branch, dual-stream sampling:
# instance-balanced feature stream, class-balanced classifier stream;
# spec_hybrid.md) on the shared benchmark recipe (ResNet-20, 30 epochs,
# batch 64, SGD lr 0.1 warm-up + cosine, wd 5e-4). Views: the feature
# stream gets the two SimAugment-style views of
# ../_base_/datasets/fashion_mnist_lt_2view.py, the classifier stream the
# single-view crop + flip of the CE baseline. The CIFAR recipe's 200 epochs
# and step schedule are replaced by the shared 30-epoch cosine schedule;
# the curriculum is defined on the fraction of training, so it scales.
#   python tools/train.py configs/hybrid/hybrid-sc_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py
_base_ = [
    '../_base_/datasets/fashion_mnist_lt_2view.py',
    '../_base_/schedules/sgd_coslr-30e.py',
]

model = dict(
    type='HybridSC',
    backbone=dict(type='ResNet32CIFAR', depth=20),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP', in_channels=64, hid_channels=64,
        out_channels=128),
    loss=dict(type='SupConLoss', temperature=0.1),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
)

train_dataloader = dict(
    sampler=dict(
        _delete_=True,
        type='DualStreamSampler',
        feat_sampling='instance',
        cls_sampling='class_balanced'),
    dataset=dict(
        _delete_=True,
        type='DualStreamDataset',
        dataset=dict(
            type=_base_.dataset_type,
            data_root=_base_.data_root,
            split='train',
            imbalance_factor=_base_.imbalance_factor,
            max_per_class=_base_.max_per_class,
            pipeline=[]),
        feat_pipeline=[
            dict(
                type='MultiView',
                num_views=2,
                transforms=[_base_.sim_view]),
            dict(type='PackInputs'),
        ],
        cls_pipeline=[
            _base_.resize,
            dict(type='RandomCrop', crop_size=_base_.img_size, padding=1),
            _base_.flip,
            dict(type='PackInputs'),
        ]),
)

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='ClassCountsHook'),
    dict(type='CurriculumAlphaHook', schedule='parabolic'),
]
