# Test-only config of the released PaCo full-ImageNet ResNet-50 checkpoint
# (official README "Full ImageNet" table; convert it with
# tools/model_converters/paco_to_ltcls.py). Model of the training config
# (Full-ImageNet/moco/builder.py: MLP 2048-2048(BN)-128, linear 2048 ->
# 1000 with bias); ILSVRC-2012 val with the official test transform
# (Full-ImageNet/paco_imagenet.py: PIL Resize(256), CenterCrop(224),
# ImageNet mean / std).
_base_ = [
    './paco_resnet50_8xb32-400e_in1k.py',
    '../_base_/datasets/torchvision_test_pipeline.py',
]

test_dataloader = dict(
    dataset=dict(split='val', pipeline=_base_.torchvision_test_pipeline))
