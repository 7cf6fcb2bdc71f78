# The 30-epoch fine-tuning schedule of the PaCo / ResCom Places-LT configs
# (from ImageNet-1k weights): SGD momentum 0.9, weight decay 5e-4, lr 0.02,
# 5-epoch linear warm-up from lr / 5, then cosine to 0 over the other 25
# epochs, validation every 5 epochs. The base batch here is PaCo's 4 x 32.
# The runtime defaults come in through this file (mmengine refuses the same
# key, optim_wrapper, in two bases of one config).
_base_ = ['../default_runtime.py']

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.2, by_epoch=True, begin=0, end=5),
    dict(type='CosineAnnealingLR', T_max=25, eta_min=0, by_epoch=True,
         begin=5, end=30),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
