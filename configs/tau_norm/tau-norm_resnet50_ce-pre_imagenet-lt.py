# tau-normalised classifier (Kang et al. 2020), post-hoc on the CE model
# (test-only; the weights are those of ../ce/ce_resnet50_8xb32-coslr-90e_imagenet-lt.py):
#   tools/test.py <this config> work_dirs/ce_resnet50_8xb32-coslr-90e_imagenet-lt/epoch_90.pth
# Sweep tau in {0, 0.1, ..., 1} (spec_kcl.md section 4.2) with
#   python tools/analysis_tools/tau_norm_sweep.py <this config> <checkpoint>
# and set the chosen value below.
_base_ = '../ce/ce_resnet50_8xb32-coslr-90e_imagenet-lt.py'

model = dict(head=dict(type='TauNormClsHead', tau=1.0))
