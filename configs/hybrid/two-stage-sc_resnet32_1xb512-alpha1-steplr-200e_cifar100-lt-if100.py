# Ablation (Wang et al. CVPR 2021, Table 5, "Two-stage SC": 42.73 on
# CIFAR-100-LT r100), stage 1: the Hybrid-SC recipe with alpha = 1 for the
# whole run (spec_hybrid.md section 8 [D]), i.e. only the SupCon branch
# trains the backbone; the CE branch still runs but has weight 0.
# Stage 2: benchmarks/resnet32_two-stage-sc-pre_1xb128-linear-cb-coslr-30e_cifar100-lt-if100.py
_base_ = './hybrid-sc_resnet32_1xb512-steplr-200e_cifar100-lt-if100.py'

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='ClassCountsHook'),
    dict(type='CurriculumAlphaHook', schedule='constant', value=1.0),
]
