# PaCo on iNaturalist 2018, ResNet-50 (spec_paco.md §4, official
# sh/Inat_train_R50.sh): the ImageNet-LT recipe (4 x 32, lr 0.02, 10-epoch
# warm-up + cosine, 400 epochs, tau 0.2, alpha 0.05, queue 8192, RandAugment
# query / SimAugment key) with weight decay 1e-4 and the iNat normalisation
# (RandAugment fill = iNat mean). Paper: 73.2 (Table 5 / 11).
_base_ = [
    '../_base_/models/paco_resnet50.py',
    '../_base_/datasets/inat2018.py',
    '../_base_/datasets/imagenet_randaug_simaug_views.py',
    '../_base_/schedules/sgd_coslr-400e.py',
]

model = dict(head=dict(num_classes=8142))

# iNat mean (0.466, 0.471, 0.380) x 255 -> BGR fill (97, 120, 119)
inat_fill = [97, 120, 119]
randaug_view = _base_.randaug_view[:3] + [
    dict(type='TimmRandAugment', policies='timm', num_policies=2,
         magnitude_level=10, magnitude_std=0.5,
         hparams=dict(pad_val=inat_fill, interpolation='bicubic')),
]
train_dataloader = dict(
    batch_size=32,
    drop_last=True,  # shuffle-BN needs equal per-rank batches
    dataset=dict(pipeline=[
        _base_.train_pipeline[0],  # LoadImageFromFileStrict
        dict(
            type='MultiView',
            num_views=[1, 1],
            transforms=[randaug_view, _base_.simaug_view]),
        dict(type='PackInputs'),
    ]))

val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=2, save_last=True))
