# Copyright (c) ltcls contributors. All rights reserved.
"""Supervised contrastive loss (SupCon, Khosla et al. 2020) = FCL.

For anchor i (a view in the local batch) with label y_i::

    l_i = -1/|P(i)| * sum_{p in P(i)} log( exp(z_i.z_p / t)
                                         / sum_{a in A(i)} exp(z_i.z_a / t) )

* ``A(i)``: every view of the *global* batch (all ranks, gathered with
  exact gradients) except the anchor itself, plus every *filled* slot of an
  optional labelled queue (empty slots, label -1, are masked out);
* ``P(i)``: the members of ``A(i)`` with label y_i (all of them: "full"
  positives, which is what KCL's paper calls FCL);
* anchors without positives contribute 0 and are left out of the mean
  (SupCon's reference code returns NaN there);
* the reduction is the mean over the anchors with positives of the whole
  global batch (``reduce_anchor_loss``), so a W-process DDP run equals the
  1-process run on the same global batch, loss and gradients.

The numerics (masked log-sum-exp, fp16 handling) are
:func:`~ltcls.models.losses.multi_positive_nce`.
"""
from typing import Optional, Tuple

import torch
from torch import nn

from ltcls.registry import MODELS
from ltcls.models.utils.gather import (all_gather_with_grad, concat_all_gather,
                                       rank_offset)
from .multi_positive_nce import multi_positive_nce, reduce_anchor_loss

__all__ = [
    'supcon_loss', 'supcon_loss_per_anchor', 'SupConLoss', 'flatten_views'
]


def flatten_views(features: torch.Tensor,
                  labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(N, V, d) features and (N,) labels -> view-major (V*N, d) and
    (V*N,) (row ``v * N + i`` is view v of sample i, as in SupCon's code).
    (N, d) features are returned unchanged."""
    if features.dim() == 2:
        return features, labels
    if features.dim() != 3:
        raise ValueError('features must be (N, d) or (N, V, d), got '
                         f'{tuple(features.shape)}')
    n, v, d = features.shape
    return features.transpose(0, 1).reshape(v * n, d), labels.repeat(v)


def _check_inputs(features, labels, queue_keys, queue_labels, temperature):
    if features.dim() != 2:
        raise ValueError(f'features must be (N, d), got '
                         f'{tuple(features.shape)}')
    if labels.dim() != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(f'labels must be ({features.shape[0]},), got '
                         f'{tuple(labels.shape)}')
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError('labels must be >= 0, got min '
                         f'{int(labels.min())}')
    if not float(temperature) > 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')
    if (queue_keys is None) != (queue_labels is None):
        raise ValueError('queue_keys and queue_labels must be given together')
    if queue_keys is not None:
        if queue_keys.dim() != 2 or queue_keys.shape[1] != features.shape[1]:
            raise ValueError(f'queue_keys must be (K, {features.shape[1]}), '
                             f'got {tuple(queue_keys.shape)}')
        if queue_labels.dim() != 1 or \
                queue_labels.shape[0] != queue_keys.shape[0]:
            raise ValueError(f'queue_labels must be ({queue_keys.shape[0]},) '
                             f'(class labels, -1 = empty), got '
                             f'{tuple(queue_labels.shape)}')


def supcon_loss_per_anchor(
    features: torch.Tensor,
    labels: torch.Tensor,
    queue_keys: Optional[torch.Tensor] = None,
    queue_labels: Optional[torch.Tensor] = None,
    temperature: float = 0.07,
    gather: bool = True,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor SupCon loss of the local anchors.

    Args:
        features (Tensor): (N, d) L2-normalised embeddings of the local
            views (use :func:`flatten_views` for (N, V, d)).
        labels (Tensor): (N,) class labels >= 0.
        queue_keys (Tensor, optional): (K, d) extra contrast keys (no
            gradient flows into them).
        queue_labels (Tensor, optional): (K,) their labels, -1 = empty slot.
        temperature (float): t. Defaults to 0.07.
        gather (bool): Contrast against the views of all ranks
            (``all_gather_with_grad``). Defaults to True.

    Returns:
        tuple(Tensor, Tensor): loss (N,) float32/float64 (0 for anchors
        without positives) and has_pos (N,) bool.
    """
    _check_inputs(features, labels, queue_keys, queue_labels, temperature)
    dtype = torch.float64 if features.dtype == torch.float64 else \
        torch.float32
    feats = features.to(dtype)
    n = feats.shape[0]
    if gather:
        contrast = all_gather_with_grad(feats)
        contrast_labels = concat_all_gather(labels)
        offset = rank_offset(n, feats.device)
    else:
        contrast, contrast_labels, offset = feats, labels, 0
    m = contrast.shape[0]
    self_mask = torch.zeros(n, m, dtype=torch.bool, device=feats.device)
    idx = torch.arange(n, device=feats.device)
    self_mask[idx, idx + offset] = True
    valid = ~self_mask
    # scale the (N, d) anchors, not the (N, M) logits; the queue block is a
    # separate product, so the (K, d) queue is never copied
    scaled = feats / temperature
    logits = scaled @ contrast.t()
    if queue_keys is not None:
        logits = torch.cat(
            [logits, scaled @ queue_keys.detach().to(dtype).t()], dim=1)
        contrast_labels = torch.cat(
            [contrast_labels,
             queue_labels.to(contrast_labels.device)])
        q_valid = (queue_labels >= 0).to(feats.device)
        valid = torch.cat([valid, q_valid.unsqueeze(0).expand(n, -1)], dim=1)
    pos = (labels.view(-1, 1) == contrast_labels.view(1, -1)) & valid
    return multi_positive_nce(logits, pos, valid)


def supcon_loss(features: torch.Tensor,
                labels: torch.Tensor,
                queue_keys: Optional[torch.Tensor] = None,
                queue_labels: Optional[torch.Tensor] = None,
                temperature: float = 0.07,
                base_temperature: Optional[float] = None,
                gather: bool = True,
                sample_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """SupCon / FCL loss averaged over the anchors with positives of the
    global batch (see module docstring).

    Args:
        features (Tensor): (N, d) or (N, V, d) normalised embeddings.
        labels (Tensor): (N,) labels (repeated over views for (N, V, d)).
        queue_keys, queue_labels: optional (K, d) keys and (K,) labels.
        temperature (float): t.
        base_temperature (float, optional): SupCon's code multiplies the
            loss by ``t / base_temperature``; None means 1.
        gather (bool): In-batch contrast over all ranks.
        sample_weight (Tensor, optional): (N,) or (N*V,) per-anchor weights.

    Returns:
        Tensor: scalar.
    """
    features, labels = flatten_views(features, labels)
    loss, has_pos = supcon_loss_per_anchor(features, labels, queue_keys,
                                           queue_labels, temperature, gather)
    if sample_weight is not None:
        sample_weight = sample_weight.reshape(-1)
        if loss.numel() % max(sample_weight.numel(), 1) != 0:
            raise ValueError(
                f'sample_weight has {sample_weight.numel()} entries; expected '
                f'{loss.numel()} (one per view) or a divisor of it (one per '
                'sample, repeated over views)')
        sample_weight = sample_weight.repeat(loss.numel() //
                                             sample_weight.numel())
    out = reduce_anchor_loss(
        loss, has_pos, sample_weight, global_average=gather)
    if base_temperature is not None:
        out = out * (temperature / base_temperature)
    return out


@MODELS.register_module()
class SupConLoss(nn.Module):
    """Supervised contrastive loss (SupCon) / FCL, in-batch across ranks,
    optionally with labelled queue keys. See :func:`supcon_loss`.

    Args:
        temperature (float): Defaults to 0.07.
        base_temperature (float, optional): Defaults to None (factor 1).
        gather (bool): Contrast against the global batch. Defaults to True.
        loss_weight (float): Defaults to 1.0.

    Shapes:
        features: (N, d) or (N, V, d); labels: (N,);
        queue_keys: (K, d); queue_labels: (K,), -1 marks empty slots.
    """

    def __init__(self,
                 temperature: float = 0.07,
                 base_temperature: Optional[float] = None,
                 gather: bool = True,
                 loss_weight: float = 1.0):
        super().__init__()
        if not float(temperature) > 0:
            raise ValueError(
                f'SupConLoss: temperature must be > 0, got {temperature}')
        if base_temperature is not None and not float(base_temperature) > 0:
            raise ValueError('SupConLoss: base_temperature must be > 0, got '
                             f'{base_temperature}')
        self.temperature = float(temperature)
        self.base_temperature = base_temperature
        self.gather = gather
        self.loss_weight = loss_weight

    def forward(self,
                features: torch.Tensor,
                labels: torch.Tensor,
                queue_keys: Optional[torch.Tensor] = None,
                queue_labels: Optional[torch.Tensor] = None,
                sample_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.loss_weight * supcon_loss(
            features, labels, queue_keys, queue_labels, self.temperature,
            self.base_temperature, self.gather, sample_weight)

    def extra_repr(self) -> str:
        return (f'temperature={self.temperature}, '
                f'base_temperature={self.base_temperature}, '
                f'gather={self.gather}, loss_weight={self.loss_weight}')
