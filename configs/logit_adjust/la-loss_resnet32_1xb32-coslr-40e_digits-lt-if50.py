# Logit-adjusted loss (Menon et al. 2021, Eq. 10, tau = 1) on DigitsLT IF 50:
# the CE proof config with the loss swapped.
_base_ = '../ce/ce_resnet32_1xb32-coslr-40e_digits-lt-if50.py'

model = dict(
    head=dict(loss=dict(_delete_=True, type='LogitAdjustLoss', tau=1.0)))
