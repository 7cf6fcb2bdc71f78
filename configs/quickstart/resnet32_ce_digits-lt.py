# Quickstart: ResNet-32 with plain cross-entropy on DigitsLT (imbalance 10).
# Runs on CPU in a few minutes:
#   tools/dist_train.sh configs/quickstart/resnet32_ce_digits-lt.py 2
_base_ = [
    '../_base_/models/resnet32_cifar.py',
    '../_base_/datasets/digits_lt.py',
    '../_base_/schedules/sgd_coslr-30e.py',
]

model = dict(head=dict(num_classes=10))

# 2 processes x 32 = global batch 64; the schedule (SGD lr 0.1, 2-epoch
# warm-up, cosine, 30 epochs) is the Fashion-MNIST-LT benchmark's,
# ../_base_/schedules/sgd_coslr-30e.py.

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=10, max_keep_ckpts=1, save_last=True))
