# Copyright (c) ltcls contributors. All rights reserved.
"""The CIFAR ResNet of the long-tailed papers (ResNet-20/32/44/56/110).

This is the network of the LDAM-DRW reference code (``resnet32`` in
``models/resnet_cifar.py``), which BBN, PaCo, SBCL, Hybrid-SC and ResCom all
reuse for CIFAR-LT: a 3x3 stem with 16 channels, then three stages of
``(depth - 2) / 6`` basic blocks with 16/32/64 channels and strides 1/2/2,
and option-A (zero-padding, parameter-free) shortcuts. mmpretrain's
``ResNet_CIFAR`` is a different network (64-256... channels, conv
shortcuts), so it cannot be reused for paper parity.
"""
from typing import Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ltcls.registry import MODELS
from ..utils.init_cfg import complete_init_cfg


class _PadShortcut(nn.Module):
    """Option-A shortcut: subsample by 2 and zero-pad the channels."""

    def __init__(self, planes: int):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2],
                     (0, 0, 0, 0, self.pad, self.pad), 'constant', 0)


class CifarBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1, norm_cfg=dict(type='BN')):
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, planes)[1]
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, planes)[1]
        if stride != 1 or in_planes != planes:
            self.shortcut = _PadShortcut(planes)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


@MODELS.register_module()
class ResNet32CIFAR(BaseBackbone):
    """CIFAR ResNet with option-A shortcuts (LDAM-DRW's ``resnet32``).

    Args:
        depth (int): 20, 32, 44, 56 or 110 (``6n + 2``). Defaults to 32.
        in_channels (int): Input channels. Defaults to 3.
        base_channels (int): Channels of the stem and first stage; stages
            have ``base, 2*base, 4*base``. Defaults to 16.
        out_indices (Sequence[int]): Stages whose output is returned.
            Defaults to ``(2, )``, the last (64 x 8 x 8 for 32x32 input).
        frozen_stages (int): Stages to freeze (stop gradients, BN in eval);
            -1 freezes nothing, 0 the stem, 3 everything. Defaults to -1.
        norm_eval (bool): Keep every BN in eval mode during training.
            Defaults to False.
        norm_cfg (dict): Normalisation layer config. Defaults to BN.
        init_cfg (dict | list[dict], optional): Defaults to Kaiming normal
            for conv and linear layers, as in the reference code. A dict
            with only ``checkpoint`` (what ``--cfg-options
            model.backbone.init_cfg.checkpoint=X.pth`` gives) loads the
            ``backbone.*`` weights of that classifier checkpoint
            (:func:`ltcls.models.utils.complete_init_cfg`).

    Shapes:
        input: (N, in_channels, H, W); output: tuple of (N, C_i, H_i, W_i).
    """
    arch_settings = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}

    def __init__(self,
                 depth: int = 32,
                 in_channels: int = 3,
                 base_channels: int = 16,
                 out_indices: Sequence[int] = (2, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 init_cfg=[
                     dict(type='Kaiming', layer=['Conv2d'], mode='fan_in',
                          nonlinearity='relu', distribution='normal'),
                     dict(type='Constant', val=1, layer=['_BatchNorm'])
                 ]):
        super().__init__(complete_init_cfg(init_cfg, type(self).__name__))
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth {depth} for ResNet32CIFAR; choose '
                           f'from {sorted(self.arch_settings)}')
        out_indices = tuple(out_indices)
        for i in out_indices:
            if not 0 <= i < 3:
                raise ValueError(f'out_indices must be in [0, 3), got {i}')
        if not -1 <= frozen_stages <= 3:
            raise ValueError(
                f'frozen_stages must be in [-1, 3], got {frozen_stages}')
        self.depth = depth
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        num_blocks = self.arch_settings[depth]

        self.conv1 = nn.Conv2d(
            in_channels, base_channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, base_channels)[1]
        in_planes = base_channels
        self.layers = nn.ModuleList()
        for i, stride in enumerate((1, 2, 2)):
            planes = base_channels * 2**i
            blocks = []
            for j in range(num_blocks):
                blocks.append(
                    CifarBasicBlock(in_planes, planes,
                                    stride if j == 0 else 1, norm_cfg))
                in_planes = planes
            self.layers.append(nn.Sequential(*blocks))
        self.feat_dim = in_planes
        self._freeze_stages()

    def _freeze_stages(self):
        if self.frozen_stages >= 0:
            for m in (self.conv1, self.bn1):
                m.eval()
                for p in m.parameters():
                    p.requires_grad = False
        for i in range(self.frozen_stages):
            layer = self.layers[i]
            layer.eval()
            for p in layer.parameters():
                p.requires_grad = False

    def forward(self, x: torch.Tensor):
        x = F.relu(self.bn1(self.conv1(x)))
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
