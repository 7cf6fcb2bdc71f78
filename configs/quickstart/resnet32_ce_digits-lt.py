# Quickstart: ResNet-32 with plain cross-entropy on DigitsLT (imbalance 10).
# Runs on CPU in a few minutes:
#   tools/dist_train.sh configs/quickstart/resnet32_ce_digits-lt.py 2
_base_ = [
    '../_base_/models/resnet32_cifar.py',
    '../_base_/datasets/digits_lt.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(num_classes=10))

# 2 processes x 32 = global batch 64
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=2, end=30),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=30)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=10, max_keep_ckpts=1, save_last=True))
