# The SBCL linear stage 2 on ImageNet-LT / iNaturalist 2018 (8 GPUs x
# 256): SGD momentum 0.9, lr 10, weight decay 0, 40 epochs, lr x0.1 at
# epochs 20 and 30, validation every 5 epochs.
# The runtime defaults come in through this file (mmengine refuses the same
# key, optim_wrapper, in two bases of one config).
_base_ = ['../default_runtime.py']

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=10., momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[20, 30], gamma=0.1),
]
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=2048)
