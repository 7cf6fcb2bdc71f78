# Test-only config of the released BCL ImageNet-LT ResNeXt-50 checkpoint
# (Zhu et al., CVPR 2022; FlamieZhu/Balanced-Contrastive-Learning, trained
# with main.py --arch resnext50 --use-norm True, 4 GPUs, batch 256, 90
# epochs). models/resnext.py BCLModel: torchvision-layout ResNeXt-50 32x4d
# encoder without fc; MLP head 2048-2048(BN)-1024 (checked by the converter,
# not kept); cosine classifier NormedLinear(2048, 1000) with scale s = 30,
# no bias. ltcls trains no BCL model: this config only evaluates the
# converted checkpoint (tools/model_converters/bcl_to_ltcls.py).
# Test set ImageNet_LT_test.txt (main.py --reload True) with the official
# test transform (PIL Resize(256), CenterCrop(224), ImageNet mean / std).
_base_ = [
    '../_base_/datasets/imagenet_lt.py',
    '../_base_/datasets/torchvision_test_pipeline.py',
    '../_base_/default_runtime.py',
]

model = dict(
    # predict() is ImageClassifier's; the projector is only there so that
    # the converter checks the released MLP against it
    type='ContrastiveClassifier',
    backbone=dict(
        type='ResNeXt', depth=50, groups=32, width_per_group=4,
        num_stages=4, out_indices=(3, ), style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    projector=dict(
        type='ProjectionMLP',
        in_channels=2048,
        hid_channels=2048,
        out_channels=1024,
        norm_cfg=dict(type='BN1d')),
    head=dict(
        type='NormedLinearClsHead',
        num_classes=1000,
        in_channels=2048,
        scale=30.0))

test_dataloader = dict(
    dataset=dict(
        ann_file='ImageNet_LT_test.txt',
        pipeline=_base_.torchvision_test_pipeline))
test_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_cfg = dict()
