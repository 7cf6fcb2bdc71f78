# Balanced Softmax (Ren et al. 2020) on Fashion-MNIST-LT IF 100: the CE
# benchmark config with the loss swapped (no hyper-parameter to scale);
# the train class counts reach the loss through ClassCountsHook.
_base_ = '../ce/ce_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py'

model = dict(
    head=dict(loss=dict(_delete_=True, type='BalancedSoftmaxLoss')))
