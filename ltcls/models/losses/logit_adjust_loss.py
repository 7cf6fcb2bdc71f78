# Copyright (c) ltcls contributors. All rights reserved.
"""Logit-adjusted cross-entropy (Menon et al., "Long-tail learning via logit
adjustment", ICLR 2021, Eq. 10).

With the training label prior ``pi_j = n_j / sum_k n_k`` and a temperature
``tau``:

.. math::

    \\ell(x, y) = -\\log \\frac{e^{z_y + \\tau \\log \\pi_y}}
                              {\\sum_j e^{z_j + \\tau \\log \\pi_j}}.

Predictions use the raw logits ``z``. ``tau = 1`` is Balanced Softmax. The
post-hoc variant (train with plain CE, predict ``argmax z - tau log pi``) is
:class:`ltcls.models.heads.LogitAdjustedClsHead`.
"""
from typing import Optional

import torch
from mmpretrain.models.losses.utils import weight_reduce_loss
from torch import nn

from ltcls.registry import MODELS
from .class_prior import (ClassCountsMixin, CountsType, check_cls_inputs,
                          offset_cross_entropy)
from .utils import check_reduction

__all__ = ['logit_adjust_loss', 'LogitAdjustLoss']


def _check_tau(tau, owner: str) -> float:
    try:
        tau = float(tau)
    except (TypeError, ValueError):
        raise TypeError(
            f'{owner}: tau must be a number, got {tau!r}') from None
    if not tau == tau or tau in (float('inf'), float('-inf')):
        raise ValueError(f'{owner}: tau must be finite, got {tau}')
    return tau


def logit_adjust_loss(cls_score: torch.Tensor,
                      label: torch.Tensor,
                      class_counts: torch.Tensor,
                      tau: float = 1.0,
                      weight: Optional[torch.Tensor] = None,
                      reduction: str = 'mean',
                      avg_factor: Optional[float] = None) -> torch.Tensor:
    """Logit-adjusted cross-entropy.

    Args:
        cls_score (Tensor): (N, C) logits (fp16 is computed in fp32).
        label (Tensor): (N, ) class indices or (N, C) soft targets.
        class_counts (Tensor): (C, ) training images per class, all > 0.
        tau (float): Scale of the log prior. Defaults to 1.0.
        weight (Tensor, optional): (N, ) sample weights.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor (float, optional): Divisor of the ``'mean'`` reduction.

    Returns:
        Tensor: scalar, or (N, ) with ``reduction='none'``.
    """
    check_cls_inputs(cls_score, label, 'logit_adjust_loss')
    check_reduction(reduction, 'logit_adjust_loss')
    tau = _check_tau(tau, 'logit_adjust_loss')
    counts = torch.as_tensor(
        class_counts, device=cls_score.device).to(torch.float64)
    if counts.shape != (cls_score.size(1), ):
        raise ValueError(
            f'logit_adjust_loss: class_counts has shape '
            f'{tuple(counts.shape)}, expected ({cls_score.size(1)}, )')
    offset = tau * (counts / counts.sum()).log()
    loss = offset_cross_entropy(cls_score, offset, label)
    if weight is not None:
        weight = weight.to(loss.dtype)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class LogitAdjustLoss(ClassCountsMixin, nn.Module):
    """Logit-adjusted softmax cross-entropy (Menon et al. 2021).

    Args:
        tau (float): Scale of the log prior; the paper uses 1.0.
            Defaults to 1.0.
        class_counts (Sequence[int], optional): Training images per class;
            normally set by ``ClassCountsHook``. Defaults to None.
        num_classes (int, optional): Expected number of classes.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.

    Shapes:
        cls_score: (N, C); label: (N, ) or (N, C); output: scalar or (N, ).
    """

    def __init__(self,
                 tau: float = 1.0,
                 class_counts: Optional[CountsType] = None,
                 num_classes: Optional[int] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        check_reduction(reduction, type(self).__name__)
        self.tau = _check_tau(tau, type(self).__name__)
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
        return self.loss_weight * logit_adjust_loss(
            cls_score, label, self.class_counts, self.tau, weight, reduction,
            avg_factor)

    def extra_repr(self) -> str:
        return (
            f'tau={self.tau}, num_classes={self.num_classes}, '
            f'reduction={self.reduction!r}, loss_weight={self.loss_weight}')
