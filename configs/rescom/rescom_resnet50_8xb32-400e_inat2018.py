# ResCom on iNaturalist 2018, ResNet-50 (Table 7: 75.2; spec_rescom.md §4):
# 8 x 32 = 256, lr 0.08 cosine, 10-epoch warm-up, 400 epochs, wd 5e-4,
# lambda 0.5, tau 0.2, RandAugment pipeline on both views (fill = iNat
# mean). Queue / mining values are not published: Q = 4 (32,568 keys),
# Q_p = 1, Q_n = 13,000 (~0.4 (K - 1) Q), beta 0.99.
_base_ = [
    '../_base_/models/rescom_resnet50.py',
    '../_base_/datasets/inat2018.py',
    '../_base_/datasets/imagenet_randaug_simaug_views.py',
    '../_base_/schedules/sgd_coslr-400e.py',
]

model = dict(
    head=dict(num_classes=8142),
    queue_size_per_cls=4,
    loss=dict(num_pos=1, num_neg=13000))

# iNat mean (0.466, 0.471, 0.380) x 255 -> BGR fill (97, 120, 119)
inat_fill = [97, 120, 119]
rescom_view = _base_.rescom_view[:4] + [
    dict(type='TimmRandAugment', policies='timm', num_policies=2,
         magnitude_level=10, magnitude_std=0.5,
         hparams=dict(pad_val=inat_fill, interpolation='bicubic')),
]
train_dataloader = dict(
    batch_size=32,
    drop_last=True,
    dataset=dict(pipeline=[
        _base_.train_pipeline[0],
        dict(type='MultiView', num_views=2, transforms=[rescom_view]),
        dict(type='PackInputs'),
    ]),
)

val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=0.08))
auto_scale_lr = dict(base_batch_size=256)
default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=2, save_last=True))
