# Copyright (c) ltcls contributors. All rights reserved.
"""Prototypical supervised contrastive (PSC) loss of Hybrid-PSC.

Wang et al., "Contrastive Learning based Hybrid Networks for Long-Tailed
Image Classification", CVPR 2021, Eq. 4 (spec_hybrid.md §2.4)::

    s_ic   = z_i . p_c / tau                    (z, p unit vectors)
    l_i    = - log( exp(s_{i,y_i}) / sum_{c != y_i} exp(s_ic) )
           = - s_{i,y_i} + logsumexp_{c != y_i} s_ic

The positive prototype is **not** in the denominator (the paper's gradient
analysis, §4.4, relies on it: dl/ds_pos = -1 for every anchor and the
gradients to the negatives are a softmax over the negatives only). The loss
is therefore not a cross-entropy over prototypes, is bounded by
``2 / tau + log(C - 1)`` in absolute value, and can be negative.

MPSC (Eq. 5, M prototypes per class, not evaluated in the paper)::

    l_i = - 1/M sum_k [ log w_ik + s_{i,y_i,k} ]
          + logsumexp_{c != y_i, m} s_{i,c,m}

with affinities ``w_ik`` either uniform (1/M) or a softmax over the
anchor's own-class prototypes (``affinity='softmax'``; the paper does not
define ``w``; it is treated as a constant, i.e. detached [D]).

Why not ``multi_positive_nce``: that core always keeps the positive column
in the softmax denominator (a column masked out of the denominator also
loses its positive weight), so it cannot express Eq. 4, whose defining
property is the opposite; the two-line numerics are written here
(``exclude_positive=False``, the plain cross-entropy over prototypes kept
for ablation, equals ``multi_positive_nce`` with the one-hot mask, which the
tests check). The reduction uses the shared
``reduce_anchor_loss``, so a W-process DDP run equals the 1-process run on
the same global batch: every term of the loss is per anchor (prototypes are
replicated parameters), and the global-mean divisor makes DDP's gradient
averaging exact even with unequal numbers of valid anchors per rank.

Anchors whose label is negative (``-1``: unlabelled / ignored) have no
positive prototype; their loss is 0 and they are left out of the mean.

Numerics: features and prototypes are normalised by ``unit_normalize``
(``F.normalize``'s values, closed-form backward) and the (N, C * M) logits
are one buffer of the shared ``excluded_lse`` (1 / tau applied to the (N, D)
anchors; positive columns set to ``-inf`` in place, exponentiated in place,
turned into the softmax gradient in place in the backward, which returns
the gradients to z and p by two matmuls): the same values and gradients as
``torch.logsumexp`` over the scattered logits, to rounding, with one (N, C)
buffer instead of the logits, their scaled and masked copies and
autograd's gradient tensors.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ltcls.registry import MODELS
from .autocast import autocast_off
from .multi_positive_nce import (excluded_lse, reduce_anchor_loss,
                                 unit_normalize)
from .utils import (check_choice, check_int, check_number, check_reduction,
                    compute_dtype_of)

__all__ = ['psc_loss', 'psc_anchor_loss', 'PSCLoss']

_AFFINITIES = ('uniform', 'softmax')


@autocast_off
def psc_anchor_loss(features: torch.Tensor,
                    labels: torch.Tensor,
                    prototypes: torch.Tensor,
                    temperature: float = 0.1,
                    exclude_positive: bool = True,
                    affinity: str = 'uniform'
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor PSC / MPSC loss.

    Args:
        features (Tensor): (N, D) embeddings; L2-normalised here (a no-op
            for the projector's already normalised output).
        labels (Tensor): (N, ) int64 class indices in ``[0, C)``; a negative
            label marks an anchor without a positive prototype (ignored).
        prototypes (Tensor): (C, D) or (C, M, D) raw prototypes
            (L2-normalised here), M prototypes per class.
        temperature (float): tau > 0.
        exclude_positive (bool): True is Eq. 4 (the positive prototypes are
            not in the denominator). False is a standard softmax
            cross-entropy over all prototypes (ablation only).
        affinity (str): MPSC weights ``w_ik``: ``'uniform'`` (1/M) or
            ``'softmax'`` (softmax over the anchor's own-class logits,
            detached). Irrelevant for M = 1.

    Returns:
        tuple(Tensor, Tensor): ``loss`` (N, ) (float32, or float64 for
        float64 input; 0 for ignored anchors) and ``valid`` (N, ) bool.
    """
    if features.dim() != 2:
        raise ValueError('psc_loss: features must be (N, D), got shape '
                         f'{tuple(features.shape)}')
    if prototypes.dim() == 2:
        prototypes = prototypes.unsqueeze(1)
    if prototypes.dim() != 3:
        raise ValueError('psc_loss: prototypes must be (C, D) or (C, M, D), '
                         f'got shape {tuple(prototypes.shape)}')
    num_classes, num_protos, dim = prototypes.shape
    if features.size(1) != dim:
        raise ValueError(f'psc_loss: features have dim {features.size(1)} '
                         f'but prototypes have dim {dim} (feat_dim)')
    labels = labels.reshape(-1)
    if labels.numel() != features.size(0):
        raise ValueError(f'psc_loss: {labels.numel()} labels for '
                         f'{features.size(0)} features')
    if labels.dtype.is_floating_point:
        raise TypeError(f'psc_loss: labels must be integers, got '
                        f'{labels.dtype}')
    labels = labels.long()
    if labels.numel() and int(labels.max()) >= num_classes:
        raise ValueError(f'psc_loss: label {int(labels.max())} is out of '
                         f'range for {num_classes} classes (num_classes)')
    check_number('psc_loss', 'temperature', temperature)
    check_choice('psc_loss', 'affinity', affinity, _AFFINITIES)
    if exclude_positive and num_classes < 2:
        raise ValueError('psc_loss: exclude_positive=True needs at least 2 '
                         f'classes (no negative prototype), got {num_classes}')

    dtype = compute_dtype_of(features)
    z = unit_normalize(features.to(dtype))
    p = unit_normalize(prototypes.to(dtype))
    valid = labels >= 0
    safe_labels = labels.clamp_min(0)
    # (N, M) columns of the anchor's own-class prototypes among the
    # class-major (N, C * M) logits (column c * M + k: prototype k of c)
    cols = safe_labels[:, None] * num_protos + torch.arange(
        num_protos, device=features.device)
    # Eq. 4 / 5: the denominator holds the prototypes of the other classes
    # only; exclude_positive=False keeps all prototypes (plain CE form).
    # Ignored anchors keep every column (their loss is zeroed). One fused
    # pass over the (N, C * M) logits z @ p.T / tau (owned buffer, positive
    # columns -inf in place, in-place softmax backward)
    lse, pos_logits = excluded_lse(
        z,
        p.reshape(num_classes * num_protos, dim),
        cols,
        scale=1.0 / temperature,
        exclude=valid if exclude_positive else None)  # (N, ), (N, M)
    if num_protos > 1:
        if affinity == 'uniform':
            log_w = pos_logits.new_full(pos_logits.shape,
                                        -math.log(num_protos))
        else:
            log_w = torch.log_softmax(pos_logits.detach(), dim=1)
        num = (log_w + pos_logits).mean(dim=1)
    else:
        num = pos_logits[:, 0]
    loss = lse - num
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    return loss, valid


def psc_loss(features: torch.Tensor,
             labels: torch.Tensor,
             prototypes: torch.Tensor,
             temperature: float = 0.1,
             exclude_positive: bool = True,
             affinity: str = 'uniform',
             weight: Optional[torch.Tensor] = None,
             reduction: str = 'mean') -> torch.Tensor:
    """PSC / MPSC loss (see the module docstring and :func:`psc_anchor_loss`).

    Args:
        weight (Tensor, optional): (N, ) per-anchor weights.
        reduction (str): ``'mean'`` (over valid anchors of the global batch,
            DDP-exact), ``'sum'`` or ``'none'`` ((N, ) per-anchor losses).

    Returns:
        Tensor: scalar, or (N, ) for ``reduction='none'``.
    """
    check_reduction(reduction, 'psc_loss')
    loss, valid = psc_anchor_loss(features, labels, prototypes, temperature,
                                  exclude_positive, affinity)
    if weight is not None:
        if weight.shape != loss.shape:
            raise ValueError(f'psc_loss: weight has shape '
                             f'{tuple(weight.shape)}, expected '
                             f'{tuple(loss.shape)}')
        loss = loss * weight.to(loss.dtype)
    if reduction == 'none':
        return loss
    if reduction == 'sum':
        return loss.sum()
    return reduce_anchor_loss(loss, valid)


@MODELS.register_module()
class PSCLoss(nn.Module):
    """Prototypical supervised contrastive loss with learnable prototypes.

    The loss owns the prototypes, an ``nn.Parameter`` of shape
    ``(num_classes, feat_dim)`` (``(num_classes, num_prototypes, feat_dim)``
    for MPSC), initialised N(0, 1) and L2-normalised in every forward. Build
    it inside the model (``HybridPSC`` does) so the optimiser sees them;
    they train by back-propagation with the rest of the network (no EMA, as
    the paper only says they are "learned"). To exempt them from weight
    decay use ``paramwise_cfg=dict(custom_keys={'prototypes':
    dict(decay_mult=0.)})``.

    Args:
        num_classes (int): C >= 2.
        feat_dim (int): Embedding dim D_S (the projector's output).
            Defaults to 128.
        temperature (float): tau; the paper uses 1.0 on CIFAR-10-LT and 0.1
            on CIFAR-100-LT / iNaturalist. Defaults to 0.1.
        num_prototypes (int): M prototypes per class (M > 1 is MPSC).
            Defaults to 1.
        exclude_positive (bool): Eq. 4 denominator without the positive
            prototype (True, the paper). False gives a plain softmax CE
            over prototypes (ablation). Defaults to True.
        affinity (str): MPSC weights, ``'uniform'`` or ``'softmax'``.
            Defaults to ``'uniform'``.
        prototype_init (str): Only ``'normal'`` (N(0, 1)). Defaults to
            ``'normal'``.
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'``. Defaults to
            ``'mean'`` (over all views of the global batch).
        loss_weight (float): Multiplier. Defaults to 1.0.

    Shapes:
        features: (N, feat_dim); labels: (N, ); output: scalar or (N, ).
    """

    def __init__(self,
                 num_classes: int,
                 feat_dim: int = 128,
                 temperature: float = 0.1,
                 num_prototypes: int = 1,
                 exclude_positive: bool = True,
                 affinity: str = 'uniform',
                 prototype_init: str = 'normal',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        name = type(self).__name__
        for arg, value, low in (('num_classes', num_classes, 2),
                                ('feat_dim', feat_dim, 1),
                                ('num_prototypes', num_prototypes, 1)):
            check_int(name, arg, value, low)
        check_number(name, 'temperature', temperature)
        check_choice(name, 'affinity', affinity, _AFFINITIES)
        if prototype_init != 'normal':
            raise ValueError(f"{name}: prototype_init must be 'normal', got "
                             f'{prototype_init!r}')
        check_reduction(reduction, name)
        self.num_classes = num_classes
        self.feat_dim = feat_dim
        self.temperature = float(temperature)
        self.num_prototypes = num_prototypes
        self.exclude_positive = bool(exclude_positive)
        self.affinity = affinity
        self.reduction = reduction
        self.loss_weight = float(loss_weight)
        shape = (num_classes, feat_dim) if num_prototypes == 1 else \
            (num_classes, num_prototypes, feat_dim)
        self.prototypes = nn.Parameter(torch.randn(shape))

    def normalized_prototypes(self) -> torch.Tensor:
        """(C, D) or (C, M, D) unit-norm prototypes (with gradient)."""
        return F.normalize(self.prototypes, dim=-1)

    def forward(self,
                features: torch.Tensor,
                labels: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        if reduction_override is not None:
            check_reduction(reduction_override, type(self).__name__,
                             'reduction_override')
        reduction = reduction_override or self.reduction
        return self.loss_weight * psc_loss(
            features,
            labels,
            self.prototypes,
            temperature=self.temperature,
            exclude_positive=self.exclude_positive,
            affinity=self.affinity,
            weight=weight,
            reduction=reduction)

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, feat_dim={self.feat_dim}, '
                f'temperature={self.temperature}, '
                f'num_prototypes={self.num_prototypes}, '
                f'exclude_positive={self.exclude_positive}')
