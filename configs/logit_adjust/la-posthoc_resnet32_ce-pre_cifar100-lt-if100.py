# Post-hoc logit adjustment (Menon et al. 2021, Eq. 6, tau = 1) on the CE
# model of ../ce/ce_resnet32_1xb128-steplr-200e_cifar100-lt-if100.py (test-only; the prior comes from the train split
# through ClassCountsHook):
#   tools/test.py <this config> work_dirs/ce_resnet32_1xb128-steplr-200e_cifar100-lt-if100/epoch_200.pth
_base_ = '../ce/ce_resnet32_1xb128-steplr-200e_cifar100-lt-if100.py'

model = dict(head=dict(type='LogitAdjustedClsHead', tau=1.0))
