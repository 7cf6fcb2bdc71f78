# Logit-adjusted loss (Menon et al. 2021, Eq. 10, tau = 1 as on CIFAR-LT)
# on Fashion-MNIST-LT IF 100: the CE benchmark config with the loss swapped.
_base_ = '../ce/ce_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py'

model = dict(
    head=dict(loss=dict(_delete_=True, type='LogitAdjustLoss', tau=1.0)))
