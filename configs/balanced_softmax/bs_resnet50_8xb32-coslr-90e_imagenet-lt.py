# Balanced Softmax (Ren et al. 2020): CE(z + log n_y) with the train class
# counts n from ClassCountsHook; same recipe as the CE baseline
# (../ce/ce_resnet50_8xb32-coslr-90e_imagenet-lt.py).
_base_ = '../ce/ce_resnet50_8xb32-coslr-90e_imagenet-lt.py'

model = dict(
    head=dict(loss=dict(_delete_=True, type='BalancedSoftmaxLoss')))
