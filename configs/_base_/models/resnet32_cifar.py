# ResNet-32 of the CIFAR-LT papers (LDAM-DRW, BBN, PaCo, ...): 3 stages of
# 5 basic blocks, 16/32/64 channels, 64-d pooled feature.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet32CIFAR', depth=32),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
