# SBCL stage 2, CIFAR-100-LT IF 50: the IF 100 protocol (spec_sbcl.md 5.2)
# on the IF 50 split, from the IF 50 stage-1 checkpoint.
_base_ = './resnet32_sbcl-pre_1xb128-linear-ldam-rw-steplr-200e_cifar100-lt-if100.py'

stage1_checkpoint = \
    'work_dirs/sbcl_resnet32_1xb1024-1000e_cifar100-lt-if50/epoch_1000.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=stage1_checkpoint)))
train_dataloader = dict(dataset=dict(imbalance_factor=50))
