# Hybrid-PSC, ResNet-32, CIFAR-100-LT, imbalance factor 100
# (Wang et al. CVPR 2021, Table 1: 44.97 top-1).
# Same recipe as Hybrid-SC (spec_hybrid.md section 4.4) with the
# prototypical supervised contrastive loss (section 2.4): one learnable,
# L2-normalised prototype per class, the positive prototype NOT in the
# denominator, tau = 0.1 on CIFAR-100-LT [P], mean over all views [D].
# num_classes / feat_dim of the loss come from the head / projector.
# Prototypes are trained with the same lr and weight decay [D]; to exempt
# them from weight decay add
#   optim_wrapper = dict(paramwise_cfg=dict(
#       custom_keys={'prototypes': dict(decay_mult=0.)}))
_base_ = './hybrid-sc_resnet32_1xb512-steplr-200e_cifar100-lt-if100.py'

model = dict(
    type='HybridPSC',
    loss=dict(_delete_=True, type='PSCLoss', temperature=0.1))
