# SBCL stage 2 on Fashion-MNIST-LT IF 100: the CIFAR-100-LT stage-2
# protocol (spec_sbcl.md section 5.2: cosine classifier on the frozen 64-d
# backbone feature in eval mode, LDAM max margin 0.5 and s 30,
# effective-number class weights (beta 0.9999) from epoch 0,
# instance-balanced sampling, SGD lr 0.1 momentum 0.9 weight decay 0, linear
# warm-up, x0.1 at 70% and x0.01 at 90% of training) on the 10 epochs of
# the benchmark's stage-2 budget (warm-up 1 epoch, steps at 7 / 9).
#   python tools/train.py <this config> \
#       --cfg-options model.backbone.init_cfg.checkpoint=<stage-1 epoch_30.pth>
_base_ = [
    '../../_base_/models/resnet32_cifar.py',
    '../../_base_/datasets/fashion_mnist_lt.py',
    '../../_base_/schedules/sgd_coslr-10e_stage2.py',
]

# the default work dir of the stage-1 run (tools/train.py without --work-dir)
stage1_checkpoint = ('work_dirs/'
                     'sbcl_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100/'
                     'epoch_30.pth')

model = dict(
    backbone=dict(
        depth=20,
        frozen_stages=3,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    head=dict(
        _delete_=True,
        type='NormedLinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='LDAMLoss', max_m=0.5, s=30.0)))

custom_hooks = [
    dict(type='NumClassesCheckHook'),
    dict(type='ClassCountsHook'),
    # the SBCL code re-weights from the first epoch (DRW switch hard-coded)
    dict(type='DRWHook', start_epoch=0, beta=0.9999),
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.2, by_epoch=True, begin=0, end=1),
    dict(type='MultiStepLR', by_epoch=True, milestones=[7, 9], gamma=0.1),
]
