# GPaCo on Fashion-MNIST-LT IF 100 (issue 14 benchmark): the PaCo
# benchmark config with GPaCo's changes (official GPaCo code, spec_paco.md
# section 2.9): no momentum encoder, both views are anchors and go through
# the encoder with gradients, the queue takes view 2, a 3-layer MLP without
# BN, alpha 0.045, both views RandAugment-family. GPaCo has no CIFAR-LT
# script; alpha is the ImageNet-LT one, unscaled. Its ImageNet-LT lr (0.04)
# is not used: the shared recipe's SGD lr 0.1 applies to every method.
#   python tools/train.py configs/paco/gpaco_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py
_base_ = './paco_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py'

model = dict(
    momentum=None,
    anchor_views='both',
    projector=dict(num_layers=3, norm_cfg=None),
    loss=dict(alpha=0.045))

train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='MultiView', num_views=2, transforms=[_base_.rand_view]),
        dict(type='PackInputs'),
    ]))
