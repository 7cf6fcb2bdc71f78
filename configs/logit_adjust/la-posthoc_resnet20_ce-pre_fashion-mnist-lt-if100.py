# Post-hoc logit adjustment (Menon et al. 2021, Eq. 6, tau = 1): predict
# with argmax_j f_j(x) - tau * log(pi_j) on the CE benchmark model of
# Fashion-MNIST-LT IF 100. Test-only; the prior pi comes from the train
# split through ClassCountsHook. tau is not tuned (there is no validation
# split; tuning it on the test set would not be fair).
#   python tools/test.py configs/logit_adjust/la-posthoc_resnet20_ce-pre_fashion-mnist-lt-if100.py \
#       <CE run>/epoch_30.pth
_base_ = '../ce/ce_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py'

model = dict(head=dict(type='LogitAdjustedClsHead', tau=1.0))
