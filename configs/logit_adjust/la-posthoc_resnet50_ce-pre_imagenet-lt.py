# Post-hoc logit adjustment (Menon et al. 2021, Eq. 6, tau = 1) on the CE
# model of ../ce/ce_resnet50_8xb32-coslr-90e_imagenet-lt.py (test-only; the prior comes from the train split
# through ClassCountsHook):
#   tools/test.py <this config> work_dirs/ce_resnet50_8xb32-coslr-90e_imagenet-lt/epoch_90.pth
_base_ = '../ce/ce_resnet50_8xb32-coslr-90e_imagenet-lt.py'

model = dict(head=dict(type='LogitAdjustedClsHead', tau=1.0))
