# PaCo on CIFAR-10-LT, imbalance factor 50 (CIFAR-100-LT recipe, see the
# IF-100 config).
_base_ = './paco_resnet32_1xb128-400e_cifar10-lt-if100.py'

train_dataloader = dict(dataset=dict(imbalance_factor=50))
