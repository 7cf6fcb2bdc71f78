# Copyright (c) ltcls contributors. All rights reserved.
"""Balanced Softmax (Ren et al., "Balanced Meta-Softmax for Long-Tailed
Visual Recognition", NeurIPS 2020).

The softmax is re-weighted by the training label counts ``n_j``:

.. math::

    \\ell(x, y) = -\\log \\frac{n_y e^{z_y}}{\\sum_j n_j e^{z_j}}
               = \\mathrm{CE}(z + \\log n, y),

so the model is trained for the long-tailed train distribution while its raw
logits ``z`` estimate the balanced posterior used at test time (plain argmax
of ``z``). It equals logit-adjusted CE with ``tau = 1`` (``log n`` and
``log(n / N)`` differ by a constant that the softmax cancels).
"""
from typing import Optional

import torch
from mmpretrain.models.losses.utils import weight_reduce_loss
from torch import nn

from ltcls.registry import MODELS
from .class_prior import (ClassCountsMixin, CountsType, check_cls_inputs,
                          offset_cross_entropy)
from .utils import check_reduction

__all__ = ['balanced_softmax_loss', 'BalancedSoftmaxLoss']


def balanced_softmax_loss(cls_score: torch.Tensor,
                          label: torch.Tensor,
                          class_counts: torch.Tensor,
                          weight: Optional[torch.Tensor] = None,
                          reduction: str = 'mean',
                          avg_factor: Optional[float] = None) -> torch.Tensor:
    """Balanced Softmax cross-entropy.

    Args:
        cls_score (Tensor): (N, C) logits (fp16 is computed in fp32).
        label (Tensor): (N, ) class indices or (N, C) soft targets.
        class_counts (Tensor): (C, ) training images per class, all > 0.
        weight (Tensor, optional): (N, ) sample weights.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor (float, optional): Divisor of the ``'mean'`` reduction.

    Returns:
        Tensor: scalar, or (N, ) with ``reduction='none'``; float32 (float64
        for float64 scores).
    """
    check_cls_inputs(cls_score, label, 'balanced_softmax_loss')
    check_reduction(reduction, 'balanced_softmax_loss')
    class_counts = torch.as_tensor(class_counts, device=cls_score.device)
    if class_counts.shape != (cls_score.size(1), ):
        raise ValueError(
            f'balanced_softmax_loss: class_counts has shape '
            f'{tuple(class_counts.shape)}, expected ({cls_score.size(1)}, )')
    offset = class_counts.to(torch.float64).log()
    loss = offset_cross_entropy(cls_score, offset, label)
    if weight is not None:
        weight = weight.to(loss.dtype)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class BalancedSoftmaxLoss(ClassCountsMixin, nn.Module):
    """Balanced Softmax loss (Ren et al. 2020).

    Args:
        class_counts (Sequence[int], optional): Training images per class.
            Usually left ``None``: ``ClassCountsHook`` sets them from the
            train dataset before training. Defaults to None.
        num_classes (int, optional): Expected number of classes (checked
            against the counts). Defaults to None.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.

    Shapes:
        cls_score: (N, C); label: (N, ) or (N, C); output: scalar or (N, ).
    """

    def __init__(self,
                 class_counts: Optional[CountsType] = None,
                 num_classes: Optional[int] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        check_reduction(reduction, type(self).__name__)
        self.reduction = reduction
        self.loss_weight = float(loss_weight)
        self._init_class_counts(class_counts, num_classes)

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        if reduction_override is not None:
            check_reduction(reduction_override,
                            type(self).__name__, 'reduction_override')
        reduction = reduction_override or self.reduction
        self._require_class_counts(cls_score.size(-1))
        return self.loss_weight * balanced_softmax_loss(
            cls_score, label, self.class_counts, weight, reduction, avg_factor)

    def extra_repr(self) -> str:
        return (
            f'num_classes={self.num_classes}, '
            f'reduction={self.reduction!r}, loss_weight={self.loss_weight}')
