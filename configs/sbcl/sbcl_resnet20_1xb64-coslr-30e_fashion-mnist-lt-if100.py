# SBCL stage 1 on Fashion-MNIST-LT IF 100 (issue 14 benchmark). The
# CIFAR-100-LT recipe (spec_sbcl.md sections 2.6a, 3, 5.1, 10.7: in-batch
# two views, Linear-ReLU-Linear 64-64-128 projector, SupCon warm-up (tau
# 0.1), then SBCL with tau1 0.1, beta 0.25, per-class tau2 (Eq. 6), greedy
# balanced subclasses with delta 10, re-clustering every K epochs) on the
# shared benchmark recipe (ResNet-20, 30 epochs, batch 64, SGD lr 0.1
# warm-up + cosine, the SimAugment-style two views). Scaled: the SupCon
# warm-up T0 and the re-clustering period K are 20% of training each as in
# the DigitsLT proof run (T0 = K = 6: clusterings before epochs 6, 12, 18,
# 24); weight decay 5e-4 of the shared recipe (the CIFAR code: 1e-4).
# 300..3 images per class with M = max(n_min, delta) = 10 gives
# 30 + 17 + 10 + 6 + 3 + 2 + 1 + 1 + 1 + 1 = 72 subclasses.
#   python tools/train.py configs/sbcl/sbcl_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py
# Stage 2: benchmarks/resnet20_sbcl-pre_1xb64-linear-ldam-rw-steplr-10e_fashion-mnist-lt-if100.py
_base_ = [
    '../_base_/datasets/fashion_mnist_lt_2view.py',
    '../_base_/schedules/sgd_coslr-30e.py',
]

model = dict(
    type='SBCL',
    num_classes=10,
    backbone=dict(type='ResNet32CIFAR', depth=20),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP', in_channels=64, hid_channels=64,
        out_channels=128, num_layers=2),
    loss=dict(
        type='SBCLLoss', tau1=0.1, base_temperature=0.07, beta=0.25,
        partner_in_class_term=True),
    warmup_loss=dict(type='SupConLoss', temperature=0.1,
                     base_temperature=0.1))

train_dataloader = dict(drop_last=True)

# representation learning only: no classifier to evaluate
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None
train_cfg = dict(val_interval=None)

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(
        type='SubclassClusteringHook',
        start_epoch=6,
        interval=6,
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
