# Hybrid-PSC, ResNet-32, CIFAR-10-LT, imbalance factor 50
# (Wang et al. CVPR 2021, Table 1: 83.86 top-1). Same recipe as
# imbalance factor 100 (spec_hybrid.md section 4.4).
_base_ = './hybrid-psc_resnet32_1xb512-steplr-200e_cifar10-lt-if100.py'

train_dataloader = dict(dataset=dict(dataset=dict(imbalance_factor=50)))
