# Test-only config of the released GPaCo ImageNet-LT ResNet-50 checkpoint
# (official README "Long-tailed Recognition / ImageNet-LT" table; convert it
# with tools/model_converters/gpaco_to_ltcls.py). GPaCo/LT/moco/builder.py:
# one encoder (no momentum copy), MLP 2048-2048-2048-128 with ReLU and no
# BN, linear classifier 2048 -> 1000 with bias; test set
# ImageNet_LT_test.txt with the official test transform (GPaCo/LT/paco_lt.py:
# PIL Resize(256), CenterCrop(224), ImageNet mean / std).
_base_ = [
    './gpaco_resnet50_4xb32-400e_imagenet-lt.py',
    '../_base_/datasets/torchvision_test_pipeline.py',
]

test_dataloader = dict(
    dataset=dict(
        ann_file='ImageNet_LT_test.txt',
        pipeline=_base_.torchvision_test_pipeline))
