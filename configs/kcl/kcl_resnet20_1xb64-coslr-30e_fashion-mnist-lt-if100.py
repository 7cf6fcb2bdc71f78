# KCL stage 1 on Fashion-MNIST-LT IF 100 (issue 14 benchmark). The
# recipe of the KCL CIFAR config (k 6, tau 0.07, MoCo m 0.999, one linear
# projection 64 -> 128, instance-balanced sampling, queue warm-up; spec_kcl.md
# section 4.1) on the shared benchmark recipe (ResNet-20, 30 epochs, batch
# 64, SGD lr 0.1 warm-up + cosine, wd 5e-4, the SimAugment-style two views
# of ../_base_/datasets/fashion_mnist_lt_2view.py). Scaled: the queue,
# 4,096 keys for CIFAR-100-LT's 10,847 images (38%), is 256 keys (4
# batches, 35% of the 740 images): it must stay below the training-set size
# or stale copies of the same image become positives (section 9.20).
#   python tools/train.py configs/kcl/kcl_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py
# Stage 2: benchmarks/resnet20_kcl-pre_1xb64-linear-cb-coslr-10e_fashion-mnist-lt-if100.py
_base_ = [
    '../_base_/datasets/fashion_mnist_lt_2view.py',
    '../_base_/schedules/sgd_coslr-30e.py',
]

model = dict(
    type='KCL',
    backbone=dict(type='ResNet32CIFAR', depth=20),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP', in_channels=64, out_channels=128, num_layers=1),
    queue_len=256,
    feat_dim=128,
    momentum=0.001,  # mmengine EMA weight: MoCo m = 0.999
    loss=dict(
        type='KCLLoss',
        pos_k=6,
        temperature=0.07,
        pos_selection='random',
        variant='v1',
        seed=0))

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
    dict(type='QueueWarmupHook'),
]
