# ResCom on ImageNet-LT, ResNet-50 (Table 3: 58.7; spec_rescom.md §4):
# 8 GPUs x 32 = 256, SGD lr 0.06 momentum 0.9 wd 5e-4, 10-epoch linear
# warm-up then cosine to 0, 400 epochs; lambda 0.5, tau 0.2; the same
# RandAugment pipeline on both views (timm rand-n2-m10-mstd0.5 after
# RRC / flip / ColorJitter / grayscale). Queue and mining hyper-parameters
# are not published for ImageNet-LT: see configs/_base_/models/
# rescom_resnet50.py (Q = 4, Q_p = 1, Q_n = 1600, beta = 0.99).
# Evaluate on ImageNet_LT_test.txt (tools/test.py), as the paper.
#   tools/dist_train.sh configs/rescom/rescom_resnet50_8xb32-400e_imagenet-lt.py 8
_base_ = [
    '../_base_/models/rescom_resnet50.py',
    '../_base_/datasets/imagenet_lt.py',
    '../_base_/datasets/imagenet_randaug_simaug_views.py',
    '../_base_/schedules/sgd_coslr-400e.py',
]

train_dataloader = dict(
    batch_size=32,
    drop_last=True,
    dataset=dict(pipeline=[
        _base_.train_pipeline[0],  # LoadImageFromFileStrict
        dict(type='MultiView', num_views=2, transforms=[_base_.rescom_view]),
        dict(type='PackInputs'),
    ]),
)

val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=0.06))
auto_scale_lr = dict(base_batch_size=256)
default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=2, save_last=True))
