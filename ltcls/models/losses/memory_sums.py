# Copyright (c) ltcls contributors. All rights reserved.
"""The memory (queue) block of a label-equality loss, reduced per anchor.

PaCo, GPaCo and the multi-task SupCon treat every queue key with the
anchor's label as a positive of weight 1 (times a scalar). Their queue block
enters :func:`~ltcls.models.losses.multi_positive_nce.nce_from_sums`
through three row sums only, so it is computed without any (A, L) mask or
weight matrix (L = 65,536 keys make each fresh (A, L) buffer expensive):

* ``lse_i = log sum_{j valid} exp(z_i . k_j / t + b_j)``: one ``addmm``
  writes the logits with the column bias ``b_j`` (``-inf`` for empty slots,
  plus an optional per-label bias and a shift) already added, then one
  log-sum-exp;
* ``S_i = sum_{j: y_j = y_i} z_i . k_j / t = z_i . K_{y_i} / t`` with the
  per-class key sums ``K_c`` (a deterministic ``index_put_`` accumulation of
  the (L, d) keys into (C, d));
* ``W_i = n_{y_i}``, the number of filled slots of the anchor's class.

The keys are detached (a queue gets no gradient), so the gradient of
``S_i`` into the anchor is ``K_{y_i} / t``, the sum of the per-key
gradients. No host sync.
"""
from typing import Optional, Tuple

import torch

from .autocast import autocast_off
from .contrast_blocks import compute_dtype_of

__all__ = ['memory_block_sums']


@autocast_off
def memory_block_sums(
    anchors: torch.Tensor,
    anchor_labels: torch.Tensor,
    queue_keys: torch.Tensor,
    queue_labels: torch.Tensor,
    temperature: float,
    num_classes: int,
    label_bias: Optional[torch.Tensor] = None,
    shift: float = 0.0,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row sums of the queue block of a label-equality loss.

    Args:
        anchors (Tensor): (A, d) anchors (gradient flows).
        anchor_labels (Tensor): (A,) long, in ``[0, num_classes)``.
        queue_keys (Tensor): (L, d) keys (detached here).
        queue_labels (Tensor): (L,) long, -1 = empty slot (out of the
            softmax); labels >= ``num_classes`` are negatives of every
            anchor.
        temperature (float): t.
        num_classes (int): C, the size of the per-class key sums.
        label_bias (Tensor, optional): (C,) added to the logit of every
            column by its label (numerator and denominator).
        shift (float): Added to every logit of the denominator only (a
            log-weight of the sample terms). Defaults to 0.

    Returns:
        tuple(Tensor, Tensor, Tensor): ``lse`` (A,) (``-inf`` when no slot
        is filled), ``w_sum`` (A,) the positives per anchor and ``ws``
        (A,) the sum of the positives' (biased, unshifted) logits.
    """
    if queue_keys.dim() != 2 or queue_keys.shape[1] != anchors.shape[1] or \
            queue_labels.shape != (queue_keys.shape[0], ):
        raise ValueError(
            f'queue_keys must be (L, {anchors.shape[1]}) with queue_labels '
            f'(L,), got {tuple(queue_keys.shape)} and '
            f'{tuple(queue_labels.shape)}')
    dtype = compute_dtype_of(anchors)
    device = anchors.device
    z = anchors.to(dtype) / temperature  # scale (A, d), not (A, L)
    keys = queue_keys.detach().to(device=device, dtype=dtype)
    qlab = queue_labels.to(device)
    filled = qlab >= 0
    # an all-empty queue keeps finite logits (a log-sum-exp over -inf only
    # has a NaN gradient) and its lse is set to -inf afterwards
    any_filled = filled.any()
    bias = torch.zeros(
        qlab.shape, dtype=dtype,
        device=device).masked_fill(~filled & any_filled, float('-inf'))
    in_range = filled & (qlab < num_classes)
    safe = torch.where(in_range, qlab, 0)
    if label_bias is not None:
        label_bias = label_bias.to(device=device, dtype=dtype)
        bias = bias + torch.where(in_range, label_bias[safe], 0.0)
    if shift:
        bias = bias + shift
    lse = torch.logsumexp(torch.addmm(bias, z, keys.t()), dim=1)
    lse = torch.where(any_filled, lse, float('-inf'))
    # per-class sums of the keys; index_put_ with accumulate is
    # deterministic (sort-based) on CUDA, unlike index_add_
    w = in_range.to(dtype)
    class_keys = torch.zeros(
        num_classes, keys.shape[1], dtype=dtype, device=device).index_put_(
            (safe, ), keys * w[:, None], accumulate=True)
    counts = torch.zeros(
        num_classes, dtype=dtype, device=device).index_put_((safe, ),
                                                            w,
                                                            accumulate=True)
    y = anchor_labels.to(device)
    w_sum = counts[y]
    ws = (z * class_keys[y]).sum(dim=1)
    if label_bias is not None:
        ws = ws + w_sum * label_bias[y]
    return lse, w_sum, ws
