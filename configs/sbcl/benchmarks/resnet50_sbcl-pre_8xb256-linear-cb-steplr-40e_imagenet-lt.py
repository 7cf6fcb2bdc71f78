# SBCL stage 2, ImageNet-LT (spec_sbcl.md sections 4, 5.2, 10.7; the
# released moco/linear_classify.py and README command): a linear classifier
# 2048 -> 1000 (N(0, 0.01), bias 0) on the frozen ResNet-50 of the online
# encoder (projector discarded), cross-entropy, class-balanced sampling
# (ClassAwareSampler, 4 images per class in a row, classes cycled in random
# order), batch 2048 (8 x 256), SGD lr 10 momentum 0.9 weight decay 0,
# 40 epochs, lr x0.1 at epochs 20 and 30; RandomResizedCrop(224) + flip;
# test Resize 256 + CenterCrop 224 on ImageNet_LT_test.txt.
# Deviation: the code keeps the frozen backbone's BN in train mode (running
# statistics keep moving under class-balanced sampling, section 5.2);
# mmpretrain's frozen_stages puts frozen stages in eval mode, so BN
# statistics stay those of stage 1 here (the standard linear probe).
#   tools/dist_train.sh <this config> 8 --cfg-options \
#       model.backbone.init_cfg.checkpoint=<stage-1 .pth>
_base_ = [
    '../../_base_/datasets/imagenet_lt.py',
    '../../_base_/schedules/sgd_steplr-40e.py',
]

# the default work dir of the stage-1 run (tools/train.py without --work-dir)
stage1_checkpoint = \
    'work_dirs/sbcl_mocov2_resnet50_8xb32-400e_imagenet-lt/epoch_400.pth'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(3, ),
        style='pytorch',
        frozen_stages=4,  # stem + 4 stages: the whole backbone
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=dict(type='Normal', layer='Linear', std=0.01, bias=0.)))

train_dataloader = dict(
    batch_size=256,
    sampler=dict(_delete_=True, type='ClassAwareSampler',
                 num_sample_class=4))

# many > 100, medium 20..100, few < 20 training images (section 6)
val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator


default_hooks = dict(
    checkpoint=dict(interval=5, max_keep_ckpts=2, save_last=True))
