# Balanced Softmax (Ren et al. 2020): CE(z + log n_y) with the train class
# counts n from ClassCountsHook; same recipe as the CE baseline
# (../ce/ce_resnet32_1xb128-steplr-200e_cifar100-lt-if100.py).
_base_ = '../ce/ce_resnet32_1xb128-steplr-200e_cifar100-lt-if100.py'

model = dict(
    head=dict(loss=dict(_delete_=True, type='BalancedSoftmaxLoss')))
