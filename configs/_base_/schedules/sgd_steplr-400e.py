# The 400-epoch schedule of the PaCo / ResCom CIFAR-LT configs (1 GPU x
# 128): SGD momentum 0.9, weight decay 5e-4, 10-epoch linear warm-up from
# lr / 10, lr x0.1 at epochs 320 and 360, validation every 10 epochs. The lr
# here is ResCom's (0.1); PaCo sets 0.05.
# The runtime defaults come in through this file (mmengine refuses the same
# key, optim_wrapper, in two bases of one config).
_base_ = ['../default_runtime.py']

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=10),
    dict(type='MultiStepLR', by_epoch=True, milestones=[320, 360],
         gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=400, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
