# Ablation (Wang et al. CVPR 2021, Table 3, "Hybrid-PSC with CB-PSC":
# 44.21 on CIFAR-100-LT r100): the feature (PSC) branch is class-balanced
# too; everything else is Hybrid-PSC (spec_hybrid.md section 8).
_base_ = './hybrid-psc_resnet32_1xb512-steplr-200e_cifar100-lt-if100.py'

train_dataloader = dict(sampler=dict(feat_sampling='class_balanced'))
