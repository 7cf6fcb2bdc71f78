# Test-only config of the released GPaCo full-ImageNet ResNet-50 checkpoint
# (official README "Full ImageNet" table; GPaCo/LT/sh/ImageNet/
# eval_resnet50.sh: paco_imagenet.py, 8 GPUs, batch 512). GPaCo model (no
# momentum encoder, MLP 2048-2048-2048-128 without BN, linear 2048 -> 1000)
# on the PaCo full-ImageNet released config (ILSVRC-2012 val, official test
# transform).
_base_ = './paco_resnet50_8xb32-400e_in1k_released.py'

model = dict(
    momentum=None,
    anchor_views='both',
    projector=dict(num_layers=3, norm_cfg=None))
