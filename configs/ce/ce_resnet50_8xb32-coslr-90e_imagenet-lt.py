# Cross-entropy (joint, instance-balanced) baseline on ImageNet-LT,
# ResNet-50: the CE recipe of KCL / decoupling (spec_kcl.md section 4.1):
# 90 epochs, global batch 256 (8 x 32), SGD momentum 0.9, lr 0.1, weight
# decay 5e-4, cosine per epoch to 0, no warm-up. Decoupling (Kang et al.
# 2020) uses batch 512 / lr 0.2, the same recipe under linear scaling
# (--auto-scale-lr). Reports on ImageNet_LT_test.txt; val for monitoring.
_base_ = [
    '../_base_/datasets/imagenet_lt.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))

# many > 100, medium 20..100, few < 20 training images (spec_kcl.md 9.12)
val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=90,
         eta_min=0),
]
train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)

default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2,
                                     save_last=True))
