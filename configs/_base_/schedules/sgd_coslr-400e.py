# The 400-epoch schedule of the PaCo / GPaCo / ResCom configs on
# ImageNet-LT, iNaturalist 2018 and ImageNet: SGD momentum 0.9, 10-epoch
# linear warm-up from lr / 10, then cosine to 0 over the other 390 epochs,
# validation every 10 epochs. lr and weight decay here are PaCo's
# ResNet-50 ImageNet-LT values (0.02 at 4 x 32, 5e-4); every config sets
# its own lr / weight decay / base batch.
# The runtime defaults come in through this file (mmengine refuses the same
# key, optim_wrapper, in two bases of one config).
_base_ = ['../default_runtime.py']

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=10),
    dict(type='CosineAnnealingLR', T_max=390, eta_min=0, by_epoch=True,
         begin=10, end=400),
]
train_cfg = dict(by_epoch=True, max_epochs=400, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
