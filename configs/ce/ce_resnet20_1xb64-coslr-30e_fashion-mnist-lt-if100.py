# Plain cross-entropy on Fashion-MNIST-LT (IF 100, 740 training images, the
# balanced 10,000-image test set): the baseline of the ltcls CPU benchmark
# (issue 14). The recipe shared by every method (backbone, images,
# augmentation family, 30 epochs, batch 64, SGD, evaluation) is in
# ../_base_/datasets/fashion_mnist_lt.py and
# ../_base_/schedules/sgd_coslr-30e.py.
# Backbone: the CIFAR ResNet-20 (3 x 3 basic blocks, 16/32/64 channels,
# 64-d feature), the smallest member of the ResNet-32 family of the CIFAR-LT
# papers, for the 2-core CPU budget.
#   python tools/train.py configs/ce/ce_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py
_base_ = [
    '../_base_/models/resnet32_cifar.py',
    '../_base_/datasets/fashion_mnist_lt.py',
    '../_base_/schedules/sgd_coslr-30e.py',
]

model = dict(backbone=dict(depth=20), head=dict(num_classes=10))
