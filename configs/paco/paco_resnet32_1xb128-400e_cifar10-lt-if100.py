# PaCo on CIFAR-10-LT, imbalance factor 100, ResNet-32. The paper reports
# CIFAR-100-LT only; this is the CIFAR-100-LT recipe (spec_paco.md §4) with
# the CIFAR-10 data and 10 centers (no official CIFAR-10 hyper-parameters).
_base_ = [
    './paco_resnet32_1xb128-400e_cifar100-lt-if100.py',
]

dataset_type = 'CIFAR10LT'
data_root = 'data/cifar10'
model = dict(head=dict(num_classes=10))
data_preprocessor = dict(num_classes=10)
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 imbalance_factor=100))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
