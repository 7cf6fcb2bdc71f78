# The one optimizer / schedule of every one-stage Fashion-MNIST-LT run
# (and of every stage 1): SGD momentum 0.9, weight decay 5e-4, lr 0.1 for
# a batch of 64 on 1 process, 2-epoch linear warm-up then cosine to 0,
# 30 epochs (about 350 iterations of 740 images; see
# ../datasets/fashion_mnist_lt.py for the sizing). The papers' CIFAR
# recipes (200-400 epochs, lr 0.05-0.1 at batch 128) are scaled to this
# length; method-specific epochs (DRW start, SBCL warm-up / clustering) are
# the same fractions of training as in those recipes.
# The runtime defaults come in through this file (mmengine refuses the same
# key, default_hooks, in two bases of one config).
_base_ = ['../default_runtime.py']

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=2, end=30),
]
# evaluated once, after training (the benchmark runner calls tools/test.py)
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=30)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)

# a checkpoint every epoch (about 1 MB; the last one is kept) so an
# interrupted run resumes where it stopped
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_last=True))
