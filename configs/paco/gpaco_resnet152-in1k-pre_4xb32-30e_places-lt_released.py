# Test-only config of the released GPaCo Places-LT ResNet-152 checkpoint
# (official README table; GPaCo/LT/paco_fp16_places.py with
# sh/LT/PlacesLT_eval_R152.sh). GPaCo model (MLP 2048-2048-2048-128 without
# BN, linear 2048 -> 365); no ImageNet initialisation (the checkpoint holds
# every weight). The official script evaluates on Places_LT_val.txt
# (7,300 images, ImageNet mean / std, PIL Resize(256), CenterCrop(224));
# so does this config, to compare with the authors' 41.7. The repository's
# stored GPaCo builder does not take the `normalize` argument this script
# passes, so the released MLP may differ: if the converter reports
# projector keys, pass --cfg-options with the layout it lists.
_base_ = [
    './paco_resnet152-in1k-pre_4xb32-30e_places-lt.py',
    '../_base_/datasets/torchvision_test_pipeline.py',
]

model = dict(
    backbone=dict(init_cfg=None),
    momentum=None,
    anchor_views='both',
    projector=dict(num_layers=3, norm_cfg=None))

test_dataloader = dict(
    dataset=dict(
        ann_file='Places_LT_val.txt',
        pipeline=_base_.torchvision_test_pipeline))
