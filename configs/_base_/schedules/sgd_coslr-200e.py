# The KCL / FCL stage-1 schedule (spec_kcl.md section 4.1 / 9.21): SGD
# momentum 0.9, lr 0.1, weight decay 5e-4, per-epoch cosine to 0 over 200
# epochs, no warm-up, no validation (stage 1 has no trained classifier).
# The runtime defaults come in through this file (mmengine refuses the same
# key, optim_wrapper, in two bases of one config).
_base_ = ['../default_runtime.py']

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=200, eta_min=0),
]
train_cfg = dict(by_epoch=True, max_epochs=200)
auto_scale_lr = dict(base_batch_size=256)
