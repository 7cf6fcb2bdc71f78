# Ablation (Wang et al. CVPR 2021, Table 4, "CE-CE": 41.40 on
# CIFAR-100-LT r100): the feature branch applies cross-entropy through the
# shared classifier f_c to its (instance-sampled) views instead of a
# contrastive loss; same alpha curriculum and class-balanced CE branch
# ([D] spec_hybrid.md section 8). No projector is built.
_base_ = './hybrid-sc_resnet32_1xb512-steplr-200e_cifar100-lt-if100.py'

model = dict(
    type='HybridClassifier',
    feature_loss='ce',
    projector=None,
    loss=None)
