# Hybrid-PSC on Fashion-MNIST-LT IF 100: the Hybrid-SC benchmark config
# with the prototypical supervised contrastive loss; tau 1.0 as on the
# other 10-class benchmark, CIFAR-10-LT (spec_hybrid.md section 2.4).
#   python tools/train.py configs/hybrid/hybrid-psc_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py
_base_ = './hybrid-sc_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py'

model = dict(
    type='HybridPSC',
    loss=dict(_delete_=True, type='PSCLoss', temperature=1.0))
