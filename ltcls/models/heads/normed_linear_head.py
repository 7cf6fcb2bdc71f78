# Copyright (c) ltcls contributors. All rights reserved.
"""Cosine classifier of LDAM-DRW (``NormedLinear`` in
github.com/kaidic/LDAM-DRW ``models/resnet_cifar.py``).

The logits are cosines between the L2-normalised feature and the
L2-normalised class weights: ``z_j = <x / ||x||, w_j / ||w_j||>`` in
[-1, 1], no bias. The LDAM loss scales them by ``s``; BCL's cosine
classifier (github.com/FlamieZhu/Balanced-Contrastive-Learning
``models/resnext.py``) scales them inside the classifier (``scale=30``).
mmpretrain's ``ArcFaceClsHead`` also normalises, but it applies its own
margin and scale inside the head, so it cannot be combined with LDAM's
per-class margins.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.heads import ClsHead
from torch import nn

from ltcls.registry import MODELS

__all__ = ['normed_linear', 'NormedLinearClsHead']


def normed_linear(x: torch.Tensor,
                  weight: torch.Tensor,
                  eps: float = 1e-12) -> torch.Tensor:
    """Cosine logits.

    Args:
        x (Tensor): (N, D) features.
        weight (Tensor): (C, D) class weights.
        eps (float): Norm floor of ``F.normalize``.

    Returns:
        Tensor: (N, C) cosines.
    """
    return F.normalize(
        x, dim=1, eps=eps) @ F.normalize(
            weight, dim=1, eps=eps).t()


@MODELS.register_module()
class NormedLinearClsHead(ClsHead):
    """Linear head with L2-normalised features and weights (cosine logits).

    Args:
        num_classes (int): Number of classes C.
        in_channels (int): Feature dimension D.
        scale (float): Factor applied to the cosines, > 0. Defaults to 1
            (LDAM: the loss scales them); BCL uses 30.
        init_cfg (dict, optional): Defaults to None: the weights are drawn
            from U(-1, 1) as in the reference code (their norm does not
            matter since they are normalised in ``forward``).
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of ``ClsHead``.

    Shapes:
        feats[-1]: (N, D) -> cls_score (N, C) in [-scale, scale].
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 scale: float = 1.0,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) \
                or num_classes <= 0:
            raise ValueError(f'num_classes={num_classes!r} must be a '
                             'positive integer')
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) \
                or in_channels <= 0:
            raise ValueError(f'in_channels={in_channels!r} must be a '
                             'positive integer')
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) \
                or not scale > 0:
            raise ValueError(f'scale={scale!r} must be a positive number')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.scale = float(scale)
        self.fc = nn.Linear(in_channels, num_classes, bias=False)
        with torch.no_grad():
            self.fc.weight.uniform_(-1, 1)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        return feats[-1]

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        cosines = normed_linear(self.pre_logits(feats), self.fc.weight)
        # no multiplication at scale 1: LDAM's logits stay bit-identical
        return cosines if self.scale == 1.0 else self.scale * cosines
