# KCL / FCL stage 2 on Fashion-MNIST-LT IF 100: the paper's protocol
# (spec_kcl.md section 4.2: a linear classifier N(0, 0.01) on the frozen
# backbone in eval mode, class-balanced sampling, SGD momentum 0.9, weight
# decay 0) on the shared 10-epoch stage-2 schedule (cosine; the same
# schedule as cRT, so the two-stage rows compare). lr 10: the value of the
# KCL CIFAR-100-LT and DigitsLT stage-2 configs (the paper's ImageNet-LT
# lr, kept unscaled there and here).
#   python tools/train.py <this config> \
#       --cfg-options model.backbone.init_cfg.checkpoint=<stage-1 epoch_30.pth>
_base_ = [
    '../../_base_/models/resnet32_cifar.py',
    '../../_base_/datasets/fashion_mnist_lt.py',
    '../../_base_/schedules/sgd_coslr-10e_stage2.py',
]

# the default work dir of the stage-1 run (tools/train.py without --work-dir)
stage1_checkpoint = ('work_dirs/'
                     'kcl_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100/'
                     'epoch_30.pth')

model = dict(
    backbone=dict(
        depth=20,
        frozen_stages=3,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    head=dict(
        num_classes=10,
        init_cfg=dict(type='Normal', layer='Linear', std=0.01, bias=0.)))

train_dataloader = dict(sampler=dict(_delete_=True, type='ClassAwareSampler'))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=10., momentum=0.9, weight_decay=0.))
