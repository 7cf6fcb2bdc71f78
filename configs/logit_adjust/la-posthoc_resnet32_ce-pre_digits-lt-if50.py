# Post-hoc logit adjustment (Menon et al. 2021, Eq. 6): predict with
# argmax_j f_j(x) - tau * log(pi_j) on the CE model of DigitsLT IF 50.
# Test-only config; the prior pi comes from the train split through
# ClassCountsHook (tools/test.py builds the train dataset to count it).
#   python tools/test.py configs/logit_adjust/la-posthoc_resnet32_ce-pre_digits-lt-if50.py \
#       work_dirs/ce_resnet32_1xb32-coslr-40e_digits-lt-if50/epoch_40.pth
_base_ = '../ce/ce_resnet32_1xb32-coslr-40e_digits-lt-if50.py'

model = dict(head=dict(type='LogitAdjustedClsHead', tau=1.0))
