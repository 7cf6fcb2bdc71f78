# Ablation (Wang et al. CVPR 2021, Table 5, "Two-stage SC": 42.73 on
# CIFAR-100-LT r100), stage 2: a re-initialised linear classifier f_c on the
# frozen stage-1 backbone (BN in eval mode), CE with class-balanced sampling
# (spec_hybrid.md section 8 [D]). The paper gives no stage-2 schedule; our
# decision: the cRT recipe (SGD momentum 0.9, lr 0.1, weight decay 5e-4,
# cosine, batch 128, single-view CIFAR augmentation) run for 30 epochs.
# Stage 1: tools/train.py configs/hybrid/two-stage-sc_resnet32_1xb512-alpha1-steplr-200e_cifar100-lt-if100.py
# Stage 2: tools/train.py <this config> \
#     [--cfg-options model.backbone.init_cfg.checkpoint=<stage-1 .pth>]
_base_ = '../../crt/crt_resnet32_ce-pre_1xb128-cb-coslr-10e_cifar100-lt-if100.py'

# default work dir of the stage-1 run (tools/train.py without --work-dir)
stage1_checkpoint = ('work_dirs/two-stage-sc_resnet32_1xb512-alpha1-steplr-'
                     '200e_cifar100-lt-if100/epoch_200.pth')

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=stage1_checkpoint,
            prefix='backbone.')))

# the same training subset as the Hybrid stage 1 (first n_i in file order)
train_dataloader = dict(dataset=dict(selection='file_order'))

param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=30),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=5)
