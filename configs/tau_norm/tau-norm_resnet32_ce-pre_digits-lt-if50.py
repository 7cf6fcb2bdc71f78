# tau-normalised classifier (Kang et al. 2020), post-hoc on the CE model of
# DigitsLT IF 50: test-only config (the weights are the CE checkpoint's).
#   python tools/test.py configs/tau_norm/tau-norm_resnet32_ce-pre_digits-lt-if50.py \
#       work_dirs/ce_resnet32_1xb32-coslr-40e_digits-lt-if50/epoch_40.pth
# Choose tau with the sweep (spec_kcl.md section 4.2: tau in {0, 0.1, ..., 1}):
#   python tools/analysis_tools/tau_norm_sweep.py <this config> <checkpoint>
_base_ = '../ce/ce_resnet32_1xb32-coslr-40e_digits-lt-if50.py'

model = dict(head=dict(type='TauNormClsHead', tau=1.0))
