# Hybrid-PSC on DigitsLT (imbalance factor 50), the CPU-sized proof run:
# Hybrid-SC's DigitsLT config with the PSC loss; tau = 1.0 as on the other
# 10-class benchmark, CIFAR-10-LT (spec_hybrid.md section 2.4).
#   python tools/train.py configs/hybrid/hybrid-psc_resnet32_1xb32-coslr-40e_digits-lt-if50.py
_base_ = './hybrid-sc_resnet32_1xb32-coslr-40e_digits-lt-if50.py'

model = dict(
    type='HybridPSC',
    loss=dict(_delete_=True, type='PSCLoss', temperature=1.0))
