# Cross-entropy baseline, CIFAR-100-LT (IF 100), ResNet-32, with the LDAM-DRW
# recipe (Cao et al. 2019; github.com/kaidic/LDAM-DRW, cifar_train.py), used
# by every CIFAR-LT baseline of configs/{ce,balanced_softmax,ldam_drw,
# logit_adjust}: batch 128 (1 GPU), SGD momentum 0.9, lr 0.1, weight decay
# 2e-4, 200 epochs; lr = 0.1 * (e + 1) / 5 in epochs e = 0..4 (linear
# warm-up), then x0.01 at epoch 160 and x0.01 again at epoch 180.
_base_ = [
    '../_base_/models/resnet32_cifar.py',
    '../_base_/datasets/cifar100_lt.py',
    '../_base_/default_runtime.py',
]

# many > 100, medium 20..100, few < 20 training images (spec_kcl.md 9.12);
# CIFAR-100-LT IF 100 has 500..5 images per class.
val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=2e-4))
param_scheduler = [
    # factors 0.2, 0.4, 0.6, 0.8 in epochs 0..3, 1.0 from epoch 4 on
    dict(type='LinearLR', start_factor=0.2, by_epoch=True, begin=0, end=5),
    dict(type='MultiStepLR', by_epoch=True, milestones=[160, 180],
         gamma=0.01),
]
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)

default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2,
                                     save_last=True))
