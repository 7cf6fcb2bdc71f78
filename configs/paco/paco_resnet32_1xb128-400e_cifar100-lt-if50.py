# PaCo on CIFAR-100-LT, imbalance factor 50: the IF-100 recipe with the
# other split (the official IF-50 script sh/CIFAR100_train_imb0.02.sh uses
# the same hyper-parameters).
_base_ = './paco_resnet32_1xb128-400e_cifar100-lt-if100.py'

train_dataloader = dict(dataset=dict(imbalance_factor=50))
