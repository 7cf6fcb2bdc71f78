# PaCo on ImageNet-LT, ResNet-50 (Cui et al., ICCV 2021; spec_paco.md §4,
# official sh/ImageNetLT_train_R50.sh): 4 GPUs x 32 = 128, SGD lr 0.02
# momentum 0.9 wd 5e-4, 10-epoch linear warm-up then cosine to 0, 400
# epochs; tau 0.2, alpha 0.05, beta = gamma = 1, queue 8192 x 128, momentum
# 0.999, MLP 2048-2048(BN)-128, Balanced-Softmax center rebalance (Eq. 8);
# query view RandAugment (`randcls`), key view SimAugment (Table 2 row 3,
# 57.0). Evaluate on ImageNet_LT_test.txt (tools/test.py), as the paper.
_base_ = [
    '../_base_/models/paco_resnet50.py',
    '../_base_/datasets/imagenet_lt.py',
    '../_base_/datasets/imagenet_randaug_simaug_views.py',
    '../_base_/schedules/sgd_coslr-400e.py',
]

train_dataloader = dict(
    batch_size=32,
    drop_last=True,  # shuffle-BN needs equal per-rank batches
    dataset=dict(pipeline=[
        _base_.train_pipeline[0],  # LoadImageFromFileStrict
        dict(
            type='MultiView',
            num_views=[1, 1],
            transforms=[_base_.randaug_view, _base_.simaug_view]),
        dict(type='PackInputs'),
    ]),
)

val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator

default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=2, save_last=True))
