# Copyright (c) ltcls contributors. All rights reserved.
"""The SupCon-style projection head.

Why not mmpretrain's ``NonLinearNeck``? It always puts a BN after every
linear layer (SimCLR's head) and has no bias on hidden layers; SupCon,
Hybrid-SC, SBCL and PaCo use ``Linear -> ReLU -> Linear`` with biases and
no BN. ``ProjectionMLP`` covers both (``norm_cfg=None`` or a BN config).
For MoCo v1 / KCL's single linear layer use ``num_layers=1`` (or
mmpretrain's ``LinearNeck`` with ``norm_cfg=None``).
"""
from typing import Optional, Tuple, Union

import torch
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import nn

from ltcls.registry import MODELS

__all__ = ['ProjectionMLP']


@MODELS.register_module()
class ProjectionMLP(BaseModule):
    """``[Linear -> (Norm) -> ReLU] x (num_layers - 1) -> Linear``.

    The output is *not* L2-normalised here; the contrastive algorithms
    normalise it (``ContrastiveClassifier.project``).

    Args:
        in_channels (int): Input feature dim D.
        out_channels (int): Embedding dim d (128 in most papers).
        hid_channels (int, optional): Hidden dim. Defaults to
            ``in_channels`` (SupCon).
        num_layers (int): Linear layers, >= 1. Defaults to 2.
        norm_cfg (dict, optional): Norm after each hidden linear layer, e.g.
            ``dict(type='BN1d')``. Defaults to None (SupCon: no norm).
        with_bias (bool): Bias in every linear layer. Defaults to True.
        with_avg_pool (bool): Global-average-pool 4-D inputs first. A 2-D
            input is used as is. Defaults to True.
        init_cfg (dict, optional): Initialisation config.

    Shapes:
        input: a tuple of tensors (the last one is used), or a tensor, of
        shape (N, D) or (N, D, H, W). Output: ``(z, )`` with z (N, d).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 hid_channels: Optional[int] = None,
                 num_layers: int = 2,
                 norm_cfg: Optional[dict] = None,
                 with_bias: bool = True,
                 with_avg_pool: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels),
                            ('out_channels', out_channels), ('num_layers',
                                                             num_layers)):
            if int(value) < 1:
                raise ValueError(
                    f'ProjectionMLP: {name} must be >= 1, got {value}')
        hid_channels = in_channels if hid_channels is None else hid_channels
        if int(hid_channels) < 1:
            raise ValueError('ProjectionMLP: hid_channels must be >= 1, got '
                             f'{hid_channels}')
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.with_avg_pool = with_avg_pool
        layers = []
        dims = [in_channels] + [hid_channels] * (num_layers - 1)
        for i in range(num_layers - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1], bias=with_bias))
            if norm_cfg is not None:
                layers.append(build_norm_layer(norm_cfg, dims[i + 1])[1])
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Linear(dims[-1], out_channels, bias=with_bias))
        self.mlp = nn.Sequential(*layers)

    def forward(
        self, inputs: Union[Tuple[torch.Tensor],
                            torch.Tensor]) -> Tuple[torch.Tensor]:
        x = inputs[-1] if isinstance(inputs, (tuple, list)) else inputs
        if x.dim() == 4:
            if not self.with_avg_pool:
                raise ValueError('ProjectionMLP got a 4-D feature map '
                                 f'{tuple(x.shape)} with with_avg_pool=False')
            x = x.mean(dim=(2, 3))
        elif x.dim() != 2:
            raise ValueError('ProjectionMLP expects (N, D) or (N, D, H, W) '
                             f'inputs, got {tuple(x.shape)}')
        if x.shape[1] != self.in_channels:
            raise ValueError(f'ProjectionMLP: in_channels={self.in_channels} '
                             f'but the input has {x.shape[1]} channels')
        return (self.mlp(x), )
