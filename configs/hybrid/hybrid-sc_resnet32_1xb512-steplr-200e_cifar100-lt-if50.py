# Hybrid-SC, ResNet-32, CIFAR-100-LT, imbalance factor 50
# (Wang et al. CVPR 2021, Table 1: 51.87 top-1). Same recipe as
# imbalance factor 100 (spec_hybrid.md section 4.4).
_base_ = './hybrid-sc_resnet32_1xb512-steplr-200e_cifar100-lt-if100.py'

train_dataloader = dict(dataset=dict(dataset=dict(imbalance_factor=50)))
