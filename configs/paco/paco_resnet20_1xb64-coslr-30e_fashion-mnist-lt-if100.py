# PaCo on Fashion-MNIST-LT IF 100 (issue 14 benchmark). The CIFAR-LT model
# (64-64-32 MLP with BN, MoCo m 0.999, tau 0.05, alpha 0.01 of the official
# CIFAR script, Balanced-Softmax center rebalance; spec_paco.md section 4)
# on the shared benchmark recipe (ResNet-20, 30 epochs, batch 64, SGD lr
# 0.1 warm-up + cosine, wd 5e-4; the CIFAR script: lr 0.05 at batch 128,
# 400 epochs). Views as in the paper: query = crop + flip + grey-safe
# RandAugment (the AutoAugment/RandAugment view), key = crop + flip +
# jitter (SimAugment). Scaled: the queue, 1,024 keys for CIFAR-100-LT's
# 10,847 images (9%), is 128 keys (2 batches, 17% of the 740 images; 64
# would be a single batch).
#   python tools/train.py configs/paco/paco_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py
_base_ = [
    '../_base_/datasets/fashion_mnist_lt_2view.py',
    '../_base_/schedules/sgd_coslr-30e.py',
]

model = dict(
    type='PaCo',
    backbone=dict(type='ResNet32CIFAR', depth=20),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP',
        in_channels=64,
        hid_channels=64,
        out_channels=32,
        norm_cfg=dict(type='BN1d')),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64),
    queue_len=128,
    feat_dim=32,
    momentum=0.001,  # mmengine EMA weight: MoCo m = 0.999
    loss=dict(type='PaCoLoss', alpha=0.01, temperature=0.05),
)

train_dataloader = dict(
    drop_last=True,
    dataset=dict(pipeline=[
        dict(
            type='MultiView',
            num_views=[1, 1],
            transforms=[_base_.rand_view, _base_.sim_view]),
        dict(type='PackInputs'),
    ]))
