# GPaCo (code-only variant of PaCo, official GPaCo/LT/sh/LT/
# ImageNetLT_train_R50.sh as summarised in spec_paco.md §2.9): no momentum
# encoder, both views go through the encoder with gradients and are
# anchors, the queue takes view 2; 3-layer MLP without BN; alpha 0.045,
# lr 0.04; both views RandAugment-family. The rest of the recipe (batch,
# schedule, label smoothing of the center targets) is not in the spec and
# follows the PaCo ResNet-50 config; treat this config as a starting point.
_base_ = './paco_resnet50_4xb32-400e_imagenet-lt.py'

model = dict(
    momentum=None,
    anchor_views='both',
    projector=dict(num_layers=3, norm_cfg=None),
    loss=dict(alpha=0.045, label_smoothing=0.0))
train_dataloader = dict(dataset=dict(pipeline=[
    _base_.train_pipeline[0],
    dict(type='MultiView', num_views=2, transforms=[_base_.randaug_view]),
    dict(type='PackInputs'),
]))
optim_wrapper = dict(optimizer=dict(lr=0.04))
