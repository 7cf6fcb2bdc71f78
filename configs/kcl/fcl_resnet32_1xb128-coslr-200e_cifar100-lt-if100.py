# FCL on CIFAR-100-LT (IF 100): the KCL CIFAR recipe with pos_k=None.
_base_ = './kcl_resnet32_1xb128-coslr-200e_cifar100-lt-if100.py'

model = dict(loss=dict(pos_k=None))
