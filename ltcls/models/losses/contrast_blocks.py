# Copyright (c) ltcls contributors. All rights reserved.
"""Column blocks shared by the queue-based contrastive losses.

PaCo, GPaCo and ResCom all contrast each anchor against (i) an *in-batch*
block (the other embeddings of the current batch, the anchor itself
excluded) and (ii) a *memory* block (queue keys, empty slots masked). Each
method then adds its own columns (PaCo: class centers; ResCom: mined pairs)
and calls :func:`~ltcls.models.losses.multi_positive_nce`. This module
builds the two shared blocks once:

* :func:`in_batch_block`: the in-batch similarities with the self column
  masked, either over the local batch (the official PaCo / ResCom code:
  per-GPU), over the global batch (``gather=True``: exact cross-rank
  gradients through :func:`all_gather_with_grad`), or over *groups* of the
  local batch (``group_size``): a one-process emulation of a W-process
  per-GPU bank (spec_paco.md §8.4, spec_rescom.md §8.12), which also makes
  a W-process run comparable with a 1-process run in tests;
* :func:`memory_block`: similarities to queue keys (no gradient), label -1
  masked out of positives and the denominator.

All blocks return ``(logits, pos, valid)``: (A, M) float logits already
divided by the temperature, (A, M) bool positives and (A, M) bool columns
that enter the softmax (``pos`` implies ``valid``).
"""
from typing import Optional, Tuple

import torch

from ltcls.models.losses.autocast import autocast_off
from ltcls.models.utils.gather import (all_gather_with_grad, concat_all_gather,
                                       rank_offset)

__all__ = [
    'in_batch_block', 'memory_block', 'sample_bank', 'compute_dtype_of'
]

Block = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def compute_dtype_of(x: torch.Tensor) -> torch.dtype:
    """float64 stays float64; half / bfloat16 / float32 compute in float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _check_rows(name, x, labels, dim=None):
    if x.dim() != 2:
        raise ValueError(f'{name} must be (n, d), got {tuple(x.shape)}')
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f'{name} must have dim {dim}, got {x.shape[1]}')
    if labels.dim() != 1 or labels.shape[0] != x.shape[0]:
        raise ValueError(f'{name} labels must be ({x.shape[0]},), got '
                         f'{tuple(labels.shape)}')


@autocast_off
def in_batch_block(anchors: torch.Tensor,
                   anchor_labels: torch.Tensor,
                   temperature: float,
                   keys: Optional[torch.Tensor] = None,
                   key_labels: Optional[torch.Tensor] = None,
                   gather: bool = False,
                   group_size: Optional[int] = None,
                   num_samples: Optional[int] = None) -> Block:
    """Anchor-vs-batch similarities, self excluded.

    The in-batch bank is ``[anchors; keys]`` (``keys`` are extra in-batch
    embeddings that are not anchors, e.g. PaCo's momentum keys). Both are
    view-major stacks of the same ``N`` local samples: row ``r`` belongs to
    sample ``r % N``.

    Args:
        anchors (Tensor): (A, d) anchor embeddings (gradient flows).
        anchor_labels (Tensor): (A,) long.
        temperature (float): Logits are ``anchor . bank / temperature``.
        keys (Tensor, optional): (Kb, d) extra in-batch embeddings; a
            gradient flows through them if they require one.
        key_labels (Tensor, optional): (Kb,) long.
        gather (bool): Bank over the global batch (all ranks). Defaults to
            False (local, as the official PaCo / ResCom code).
        group_size (int, optional): Only with ``gather=False``: samples
            ``s`` and ``t`` see each other iff ``s // group_size ==
            t // group_size`` (per-GPU bank emulation).
        num_samples (int, optional): N, the number of local samples;
            defaults to ``len(anchor_labels)`` (one anchor view).

    Returns:
        tuple(Tensor, Tensor, Tensor): logits (A, M), pos (A, M),
        valid (A, M) with M = global (or local) ``A + Kb``.
    """
    _check_rows('anchors', anchors, anchor_labels)
    if (keys is None) != (key_labels is None):
        raise ValueError('keys and key_labels must be given together')
    if keys is not None:
        _check_rows('keys', keys, key_labels, anchors.shape[1])
    if gather and group_size is not None:
        raise ValueError('group_size emulates per-rank banks on one process; '
                         'it cannot be combined with gather=True')
    dtype = compute_dtype_of(anchors)
    anchors = anchors.to(dtype)
    n_a = anchors.shape[0]
    device = anchors.device
    if gather:
        bank = [all_gather_with_grad(anchors)]
        labels = [concat_all_gather(anchor_labels)]
        self_col = rank_offset(n_a, device) + torch.arange(n_a, device=device)
        if keys is not None:
            keys = keys.to(dtype)
            gather_keys = all_gather_with_grad if keys.requires_grad \
                else concat_all_gather
            bank.append(gather_keys(keys))
            labels.append(concat_all_gather(key_labels))
    else:
        bank = [anchors]
        labels = [anchor_labels]
        self_col = torch.arange(n_a, device=device)
        if keys is not None:
            bank.append(keys.to(dtype))
            labels.append(key_labels)
    bank = torch.cat(bank, dim=0)
    bank_labels = torch.cat(labels, dim=0).to(device)
    m = bank.shape[0]

    valid = torch.ones(n_a, m, dtype=torch.bool, device=device)
    valid[torch.arange(n_a, device=device), self_col] = False
    if group_size is not None:
        n = anchor_labels.numel() if num_samples is None else int(num_samples)
        if isinstance(group_size, bool) or int(group_size) < 1 or \
                n % int(group_size) != 0:
            raise ValueError(f'group_size must be a positive divisor of the '
                             f'{n} local samples, got {group_size!r}')
        if n_a % n != 0 or m % n != 0:
            raise ValueError(f'anchors ({n_a}) and bank ({m}) rows must be '
                             f'multiples of the {n} samples (view-major)')
        g_a = (torch.arange(n_a, device=device) % n) // int(group_size)
        g_b = (torch.arange(m, device=device) % n) // int(group_size)
        valid &= g_a.view(-1, 1) == g_b.view(1, -1)
    logits = anchors @ bank.t() / temperature
    pos = (anchor_labels.view(-1, 1) == bank_labels.view(1, -1)) & valid
    return logits, pos, valid


@autocast_off
def memory_block(anchors: torch.Tensor, anchor_labels: torch.Tensor,
                 queue_keys: torch.Tensor, queue_labels: torch.Tensor,
                 temperature: float) -> Block:
    """Anchor-vs-queue similarities; queue keys get no gradient and slots
    labelled -1 (empty) are masked out.

    Args:
        anchors (Tensor): (A, d).
        anchor_labels (Tensor): (A,) long.
        queue_keys (Tensor): (L, d).
        queue_labels (Tensor): (L,) long, -1 = empty.
        temperature (float): t.

    Returns:
        tuple(Tensor, Tensor, Tensor): logits, pos, valid, each (A, L).
    """
    _check_rows('anchors', anchors, anchor_labels)
    _check_rows('queue_keys', queue_keys, queue_labels, anchors.shape[1])
    dtype = compute_dtype_of(anchors)
    keys = queue_keys.detach().to(device=anchors.device, dtype=dtype)
    qlab = queue_labels.to(anchors.device)
    logits = anchors.to(dtype) @ keys.t() / temperature
    valid = (qlab >= 0).view(1, -1).expand(anchors.shape[0], -1)
    pos = (anchor_labels.view(-1, 1) == qlab.view(1, -1)) & valid
    return logits, pos, valid


def sample_bank(anchors: torch.Tensor,
                labels: torch.Tensor,
                temperature: float,
                keys: Optional[torch.Tensor] = None,
                key_labels: Optional[torch.Tensor] = None,
                queue_keys: Optional[torch.Tensor] = None,
                queue_labels: Optional[torch.Tensor] = None,
                gather_bank: bool = False,
                group_size: Optional[int] = None,
                num_samples: Optional[int] = None) -> Block:
    """The sample bank of PaCo and its multi-task baselines: the in-batch
    block (:func:`in_batch_block`) followed, if ``queue_keys`` is given, by
    the queue block (:func:`memory_block`), concatenated along columns.

    Returns:
        tuple(Tensor, Tensor, Tensor): logits, pos, valid, each (A, M).
    """
    blocks = [
        in_batch_block(anchors, labels, temperature, keys, key_labels,
                       gather_bank, group_size, num_samples)
    ]
    if queue_keys is not None:
        blocks.append(
            memory_block(anchors, labels, queue_keys, queue_labels,
                         temperature))
    return tuple(torch.cat([b[i] for b in blocks], dim=1) for i in range(3))
