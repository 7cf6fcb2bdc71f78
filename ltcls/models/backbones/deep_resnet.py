# Copyright (c) ltcls contributors. All rights reserved.
"""mmpretrain's ``ResNet`` with the 200-layer setting.

Why not mmpretrain's ``ResNet``? Its ``arch_settings`` stop at depth 152;
PaCo's released full-ImageNet ResNet-200 (``Full-ImageNet/models/
resnet.py`` of the official code, torchvision layout) has Bottleneck stages
(3, 24, 36, 3) (He et al., "Identity Mappings in Deep Residual Networks",
the post-activation 200-layer variant). Everything else, including the
weight names (``layer{1..4}.{i}.conv{1,2,3}``, ``downsample.{0,1}``), is
mmpretrain's ``ResNet``.
"""
from mmpretrain.models.backbones import ResNet
from mmpretrain.models.backbones.resnet import Bottleneck

from ltcls.registry import MODELS

__all__ = ['DeepResNet']


@MODELS.register_module()
class DeepResNet(ResNet):
    """``ResNet`` accepting ``depth=200`` as well (see the module doc).

    Args:
        depth (int): 18, 34, 50, 101, 152 (as mmpretrain) or 200.
        **kwargs: As mmpretrain's ``ResNet``.
    """

    arch_settings = dict(ResNet.arch_settings)
    arch_settings[200] = (Bottleneck, (3, 24, 36, 3))
