# ResCom on CIFAR-10-LT, imbalance factor 100, ResNet-32 (Table 1: 84.9).
# Only the CIFAR-100-LT config was released; CIFAR-10 keeps its recipe and
# the same queue budget: Q = 100 keys per class (1,000 keys; Fig. 1 uses
# ~100 positives / 900 negatives on CIFAR-10-LT), Q_p = 1, Q_n = 400.
_base_ = './rescom_resnet32_1xb128-400e_cifar100-lt-if100.py'

dataset_type = 'CIFAR10LT'
data_root = 'data/cifar10'
model = dict(
    head=dict(num_classes=10),
    queue_size_per_cls=100,
    loss=dict(num_pos=1, num_neg=400))
data_preprocessor = dict(num_classes=10)
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root,
                 imbalance_factor=100))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
