# cRT (Kang et al. 2020) on Fashion-MNIST-LT IF 100, stage 2: re-train a
# freshly initialised linear classifier with class-balanced sampling on the
# frozen backbone of the CE benchmark model, 10 epochs cosine (the paper's
# 10 epochs, unscaled: it is already short), lr 0.1, batch 64.
# Stage 1: configs/ce/ce_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py
#   python tools/train.py <this config> \
#       --cfg-options model.backbone.init_cfg.checkpoint=<CE epoch_30.pth>
_base_ = [
    '../_base_/models/resnet32_cifar.py',
    '../_base_/datasets/fashion_mnist_lt.py',
    '../_base_/schedules/sgd_coslr-10e_stage2.py',
]

# the default work dir of the stage-1 run (tools/train.py without --work-dir)
stage1_checkpoint = ('work_dirs/'
                     'ce_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100/'
                     'epoch_30.pth')

model = dict(
    backbone=dict(
        depth=20,
        frozen_stages=3,  # stem + the 3 stages, BN statistics frozen
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=stage1_checkpoint,
            prefix='backbone.')),
    # the classifier is NOT loaded: it starts from N(0, 0.01), bias 0
    head=dict(
        num_classes=10,
        init_cfg=dict(type='Normal', layer='Linear', std=0.01)))

train_dataloader = dict(sampler=dict(_delete_=True, type='ClassAwareSampler'))
