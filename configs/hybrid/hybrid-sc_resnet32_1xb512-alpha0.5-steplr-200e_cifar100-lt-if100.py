# Ablation (Wang et al. CVPR 2021, Table 5, "Hybrid-SC w/o curriculum":
# 42.58 on CIFAR-100-LT r100): fixed alpha = 0.5 instead of the parabolic
# curriculum (spec_hybrid.md section 4.2 / 8).
_base_ = './hybrid-sc_resnet32_1xb512-steplr-200e_cifar100-lt-if100.py'

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='ClassCountsHook'),
    dict(type='CurriculumAlphaHook', schedule='constant', value=0.5),
]
