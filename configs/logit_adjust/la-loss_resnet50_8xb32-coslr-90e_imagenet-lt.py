# Logit-adjusted loss (Menon et al. 2021, Eq. 10, tau = 1): CE on
# z + tau * log(prior); same recipe as the CE baseline (../ce/ce_resnet50_8xb32-coslr-90e_imagenet-lt.py).
_base_ = '../ce/ce_resnet50_8xb32-coslr-90e_imagenet-lt.py'

model = dict(
    head=dict(loss=dict(_delete_=True, type='LogitAdjustLoss', tau=1.0)))
