# 100 epochs, lr x0.1 at epochs 60 and 80, SGD momentum 0.9, validation
# every 10 epochs. The lr / weight decay here are the MoCo linear protocol of
# the KCL / FCL stage 2 (lr 10, weight decay 0, batch 256); the Hybrid-SC /
# PSC iNaturalist 2018 config sets its own.
# The runtime defaults come in through this file (mmengine refuses the same
# key, optim_wrapper, in two bases of one config).
_base_ = ['../default_runtime.py']

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=10., momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[60, 80], gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
