# The stage-2 schedule of the two-stage Fashion-MNIST-LT runs (cRT, the
# KCL / FCL linear probe): 10 epochs on the frozen stage-1 backbone, SGD
# momentum 0.9, cosine to 0, no warm-up. The learning rate and weight decay
# are the method's (set in its config).
# The runtime defaults come in through this file (mmengine refuses the same
# key, default_hooks, in two bases of one config).
_base_ = ['../default_runtime.py']

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=10),
]
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_last=True))
