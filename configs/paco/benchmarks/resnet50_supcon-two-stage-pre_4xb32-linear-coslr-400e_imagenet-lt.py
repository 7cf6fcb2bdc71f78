# SupCon two-stage baseline of PaCo's Table 1, stage 2 (spec_paco.md §2.1,
# §9 "Configs"; paper 53.4 / 2.9 / 0.0 many / medium / few, 22.0 top-1): a
# 400-epoch linear classifier on the frozen stage-1 backbone (all stages
# frozen, BN in eval mode), CE, instance-balanced sampling (the standard
# protocol; class-balanced sampling would be cRT, not Table 1).
# The paper gives no other stage-2 hyper-parameter. Decisions: the linear
# protocol of the repo's frozen-ResNet-50 ImageNet-LT probe
# (configs/kcl/benchmarks/resnet50_kcl-pre_8xb32-linear-cb-steplr-100e_
# imagenet-lt.py: SGD momentum 0.9,
# weight decay 0, lr 10 at batch 256, fc init N(0, 0.01)) scaled to the
# stage-1 batch (4 x 32 = 128: lr 5), cosine to 0 over the 400 epochs; the
# ImageNet-LT single-view augmentation (RandomResizedCrop 224 + flip), no
# RandAugment as in Table 1.
#   tools/dist_train.sh <this config> 4 --cfg-options \
#       model.backbone.init_cfg.checkpoint=<stage-1 .pth>
_base_ = [
    '../../_base_/datasets/imagenet_lt.py',
    '../../_base_/default_runtime.py',
]

# the default work dir of the stage-1 run (tools/train.py without --work-dir)
stage1_checkpoint = ('work_dirs/supcon_two-stage_resnet50_4xb32-400e_'
                     'imagenet-lt/epoch_400.pth')

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        frozen_stages=4,  # stem + 4 stages: the whole backbone
        norm_eval=True,  # BN in eval mode
        init_cfg=dict(
            type='Pretrained',
            checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=dict(type='Normal', layer='Linear', std=0.01, bias=0.)))

# 4 GPUs x 32 = 128, as stage 1; instance-balanced (the base's sampler)
train_dataloader = dict(batch_size=32)

# many > 100, medium 20..100, few < 20 training images; report on the test
# list (tools/test.py), as the paper
val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=5., momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=400,
        eta_min=0,
        by_epoch=True,
        begin=0,
        end=400),
]
train_cfg = dict(by_epoch=True, max_epochs=400, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)

default_hooks = dict(
    checkpoint=dict(interval=10, max_keep_ckpts=2, save_last=True))
