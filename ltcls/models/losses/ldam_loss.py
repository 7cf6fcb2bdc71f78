# Copyright (c) ltcls contributors. All rights reserved.
"""LDAM loss (Cao et al., "Learning Imbalanced Datasets with Label-
Distribution-Aware Margin Loss", NeurIPS 2019).

Class ``j`` gets the margin ``Delta_j = C / n_j^{1/4}``, with ``C`` chosen so
that the largest margin (rarest class) is ``max_m`` (0.5 in the paper). The
margin is subtracted from the target logit only, and the logits (cosines of a
normalised linear classifier, ``NormedLinearClsHead``) are scaled by ``s``
(30 in the reference code):

.. math::

    \\ell(z, y) = -w_y \\log \\frac{e^{s(z_y - \\Delta_y)}}
        {e^{s(z_y - \\Delta_y)} + \\sum_{j \\ne y} e^{s z_j}}.

The per-class weights ``w`` are 1 by default; ``DRWHook`` switches them to
the effective-number weights at the deferred re-weighting epoch (LDAM-DRW).
This follows ``losses.py::LDAMLoss`` of github.com/kaidic/LDAM-DRW.
"""
from typing import Optional

import numpy as np
import torch
from mmpretrain.models.losses.utils import weight_reduce_loss
from torch import nn

from ltcls.registry import MODELS
from .class_prior import (ClassCountsMixin, CountsType, check_class_counts,
                          check_cls_inputs)
from .utils import check_reduction, compute_dtype_of

__all__ = ['ldam_margins', 'ldam_loss', 'LDAMLoss']


def ldam_margins(class_counts: CountsType, max_m: float = 0.5) -> np.ndarray:
    """Per-class LDAM margins ``max_m * (n_j^{-1/4} / max_k n_k^{-1/4})``.

    Returns:
        np.ndarray: (C, ) float64; the rarest class gets ``max_m``.
    """
    counts = check_class_counts(class_counts, name='ldam_margins')
    m = 1.0 / np.sqrt(np.sqrt(counts))
    return m * (max_m / np.max(m))


def ldam_loss(cls_score: torch.Tensor,
              label: torch.Tensor,
              margins: torch.Tensor,
              s: float = 30.0,
              class_weight: Optional[torch.Tensor] = None,
              weight: Optional[torch.Tensor] = None,
              reduction: str = 'mean',
              avg_factor: Optional[float] = None) -> torch.Tensor:
    """LDAM cross-entropy.

    Args:
        cls_score (Tensor): (N, C) logits, normally cosines in [-1, 1].
        label (Tensor): (N, ) class indices (soft targets have no margin
            definition and are refused).
        margins (Tensor): (C, ) per-class margins.
        s (float): Logit scale. Defaults to 30.
        class_weight (Tensor, optional): (C, ) per-class weights; sample
            ``i`` is weighted by ``class_weight[y_i]``.
        weight (Tensor, optional): (N, ) sample weights.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor (float, optional): Divisor of the ``'mean'`` reduction
            (default: N). :class:`LDAMLoss` passes ``sum_i w_{y_i}`` to
            reproduce ``F.cross_entropy(weight=...)`` of the reference code.

    Returns:
        Tensor: scalar, or (N, ) with ``reduction='none'``.
    """
    check_cls_inputs(cls_score, label, 'ldam_loss')
    check_reduction(reduction, 'ldam_loss')
    if label.dim() != 1:
        raise ValueError('ldam_loss needs hard labels of shape (N, ); soft '
                         'labels (mixup / cutmix) have no per-class margin')
    num_classes = cls_score.size(1)
    if margins.shape != (num_classes, ):
        raise ValueError(f'ldam_loss: margins has shape '
                         f'{tuple(margins.shape)}, expected ({num_classes}, )')
    dtype = compute_dtype_of(cls_score)
    label = label.long()
    z = cls_score.to(dtype)
    batch_m = margins.to(device=z.device, dtype=dtype)[label]  # (N, )
    one_hot = torch.zeros_like(z).scatter_(1, label[:, None], 1.0)
    logits = s * (z - one_hot * batch_m[:, None])
    loss = -torch.log_softmax(logits, dim=1).gather(1, label[:, None])[:, 0]
    if class_weight is not None:
        if class_weight.shape != (num_classes, ):
            raise ValueError(
                f'ldam_loss: class_weight has shape '
                f'{tuple(class_weight.shape)}, expected ({num_classes}, )')
        loss = loss * class_weight.to(device=z.device, dtype=dtype)[label]
    if weight is not None:
        weight = weight.to(dtype)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class LDAMLoss(ClassCountsMixin, nn.Module):
    """Label-distribution-aware margin loss, with DRW class weights.

    Args:
        max_m (float): Largest margin (rarest class). Defaults to 0.5.
        s (float): Logit scale. Defaults to 30.
        class_counts (Sequence[int], optional): Training images per class;
            normally set by ``ClassCountsHook``. Defaults to None.
        num_classes (int, optional): Expected number of classes.
        class_weight (Sequence[float], optional): Initial per-class weights
            (``DRWHook`` overwrites them through :meth:`set_class_weight`).
            Defaults to None (all 1).
        weighted_mean (bool): With class weights and ``reduction='mean'``,
            divide by ``sum_i w_{y_i}`` instead of the ``avg_factor`` the head
            passes (the batch size), i.e. exactly ``F.cross_entropy(weight=
            w)`` of the LDAM-DRW code. Defaults to True.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.

    Shapes:
        cls_score: (N, C) cosines; label: (N, ); output: scalar or (N, ).

    Note:
        Under DDP the weighted mean is taken per rank (as every per-rank
        loss is); the reference code is single-process DataParallel.
    """

    def __init__(self,
                 max_m: float = 0.5,
                 s: float = 30.0,
                 class_counts: Optional[CountsType] = None,
                 num_classes: Optional[int] = None,
                 class_weight: Optional[CountsType] = None,
                 weighted_mean: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        if not float(max_m) > 0:
            raise ValueError(f'LDAMLoss: max_m must be > 0, got {max_m}')
        if not float(s) > 0:
            raise ValueError(f'LDAMLoss: s must be > 0, got {s}')
        check_reduction(reduction, type(self).__name__)
        self.max_m = float(max_m)
        self.s = float(s)
        self.weighted_mean = bool(weighted_mean)
        self.reduction = reduction
        self.loss_weight = float(loss_weight)
        self.register_buffer(
            'margins', torch.zeros(0, dtype=torch.float64), persistent=False)
        self.register_buffer(
            'class_weight',
            torch.zeros(0, dtype=torch.float64),
            persistent=False)
        self._init_class_counts(class_counts, num_classes)
        if class_weight is not None:
            self.set_class_weight(class_weight)

    def _on_class_counts_set(self) -> None:
        self.margins = torch.as_tensor(
            ldam_margins(self.class_counts.cpu().numpy(), self.max_m),
            dtype=torch.float64,
            device=self.class_counts.device)

    def set_class_weight(self, class_weight: Optional[CountsType]) -> None:
        """Set (C, ) per-class weights; ``None`` switches them off."""
        if class_weight is None:
            self.class_weight = torch.zeros(
                0, dtype=torch.float64, device=self.margins.device)
            return
        w = torch.as_tensor(np.asarray(class_weight, dtype=np.float64))
        if w.dim() != 1 or not torch.isfinite(w).all() or (w < 0).any():
            raise ValueError('LDAMLoss.class_weight must be a 1-D sequence '
                             f'of finite weights >= 0, got {class_weight}')
        if self.num_classes is not None and w.numel() != self.num_classes:
            raise ValueError(f'LDAMLoss.class_weight has {w.numel()} entries '
                             f'but num_classes={self.num_classes}')
        self.class_weight = w.to(self.margins.device)

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
        class_weight = self.class_weight if self.class_weight.numel() else None
        if class_weight is not None and class_weight.numel() != \
                cls_score.size(-1):
            raise ValueError(f'LDAMLoss: class_weight has '
                             f'{class_weight.numel()} entries but the scores '
                             f'have {cls_score.size(-1)} classes')
        if class_weight is not None and self.weighted_mean and \
                reduction == 'mean':
            w = class_weight.to(
                device=cls_score.device,
                dtype=compute_dtype_of(cls_score))[label.long()]
            if weight is not None:
                w = w * weight.to(w.dtype)
            avg_factor = w.sum()
        return self.loss_weight * ldam_loss(cls_score, label, self.margins,
                                            self.s, class_weight, weight,
                                            reduction, avg_factor)

    def extra_repr(self) -> str:
        return (f'max_m={self.max_m}, s={self.s}, '
                f'num_classes={self.num_classes}, '
                f'weighted={bool(self.class_weight.numel())}')
