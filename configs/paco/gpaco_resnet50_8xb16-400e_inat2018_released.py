# Test-only config of the released GPaCo iNaturalist 2018 ResNet-50
# checkpoint (official README table; GPaCo/LT/sh/LT/Inat_eval_R50.sh: 8
# GPUs, batch 128, --num_classes 8142). GPaCo model (no momentum encoder,
# MLP 2048-2048-2048-128 without BN, linear 2048 -> 8142) on the iNat
# PaCo config; test set iNaturalist18_val.txt (what GPaCo/LT/paco_lt.py
# evaluates on) with the iNat mean / std and the official test transform.
_base_ = [
    './paco_resnet50_4xb32-400e_inat2018.py',
    '../_base_/datasets/torchvision_test_pipeline.py',
]

model = dict(
    momentum=None,
    anchor_views='both',
    projector=dict(num_layers=3, norm_cfg=None))

test_dataloader = dict(
    dataset=dict(
        ann_file='iNaturalist18_val.txt',
        pipeline=_base_.torchvision_test_pipeline))
