# tau-normalised classifier (Kang et al. 2020), post-hoc on the CE benchmark
# model of Fashion-MNIST-LT IF 100: test-only. tau = 1 is fixed, not swept:
# the paper picks tau on a validation split, which this benchmark does not
# have, and picking it on the test set would not be fair.
#   python tools/test.py configs/tau_norm/tau-norm_resnet20_ce-pre_fashion-mnist-lt-if100.py \
#       <CE run>/epoch_30.pth
_base_ = '../ce/ce_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py'

model = dict(head=dict(type='TauNormClsHead', tau=1.0))
