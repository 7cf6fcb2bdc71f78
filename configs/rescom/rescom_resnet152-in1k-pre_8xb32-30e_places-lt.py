# ResCom on Places-LT, ResNet-152 pre-trained on full ImageNet (Table 6:
# 41.7; spec_rescom.md §4, §8.7): 8 x 32 = 256, lr 0.02 cosine over 30
# epochs (5-epoch warm-up as PaCo's Places code; not stated), "without
# additional augmentation" (spec decision: RRC + flip + ColorJitter on both
# views), PaCo's partial fine-tuning (only layer4's last bottleneck convs
# train; BN, MLP, classifier trainable). Queue / mining values are not
# published: Q = 11 (4,015 keys), Q_p = 1, Q_n = 1600, beta 0.99. The base
# test_dataloader is the 36,500-image test list (PaCo's code uses val).
_base_ = [
    '../_base_/models/rescom_resnet50.py',
    '../_base_/datasets/places_lt.py',
    '../_base_/datasets/imagenet_randaug_simaug_views.py',
    '../_base_/schedules/sgd_coslr-30e_finetune.py',
]

model = dict(
    backbone=dict(
        depth=152,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet152')),
    head=dict(num_classes=365),
    queue_size_per_cls=11,
    loss=dict(num_pos=1, num_neg=1600),
    trainable_conv=['layer4.2'])  # full fine-tuning: trainable_conv=None

train_dataloader = dict(
    batch_size=32,
    drop_last=True,
    dataset=dict(pipeline=[
        _base_.train_pipeline[0],
        dict(type='MultiView', num_views=2, transforms=[_base_.plain_view]),
        dict(type='PackInputs'),
    ]),
)

val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator

auto_scale_lr = dict(base_batch_size=256)
default_hooks = dict(
    checkpoint=dict(interval=5, max_keep_ckpts=2, save_last=True))
