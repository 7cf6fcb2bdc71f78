# Balanced Softmax (Ren et al. 2020) on DigitsLT IF 50: the CE proof config
# with the loss swapped; the train class counts reach the loss through
# ClassCountsHook.
_base_ = '../ce/ce_resnet32_1xb32-coslr-40e_digits-lt-if50.py'

model = dict(
    head=dict(loss=dict(_delete_=True, type='BalancedSoftmaxLoss')))
