# Test-only config of the released PaCo ImageNet-LT resnext50-32x4d checkpoint
# (official README "ImageNet-LT" table; convert it with
# tools/model_converters/paco_to_ltcls.py). Same model as the training
# config (torchvision-layout encoder, MLP 2048-2048(BN)-128, linear
# classifier with bias on the un-normalised pooled feature); test set
# ImageNet_LT_test.txt with the official test transform (PIL Resize(256),
# CenterCrop(224), ImageNet mean / std), as LT/paco_lt.py evaluates.
_base_ = [
    './paco_resnext50-32x4d_4xb32-400e_imagenet-lt.py',
    '../_base_/datasets/torchvision_test_pipeline.py',
]

test_dataloader = dict(
    dataset=dict(
        ann_file='ImageNet_LT_test.txt',
        pipeline=_base_.torchvision_test_pipeline))
