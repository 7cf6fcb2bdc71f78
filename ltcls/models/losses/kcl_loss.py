# Copyright (c) ltcls contributors. All rights reserved.
"""k-positive contrastive loss (KCL, Kang et al., ICLR 2021).

MoCo-v1 form (spec_kcl.md §2.4, the official ``moco/kcl_builder.py``). For
a query q_i (N anchors) with label y_i, its own key k_i and a labelled key
queue {(u_j, c_j)}_{j<K}::

    s_i0 = q_i.k_i / t,   s_ij = q_i.u_j / t
    S_i  = the selected positives: up to ``pos_k`` slots j with c_j = y_i
    l_i  = -1/(1 + |S_i|) * [ log softmax(s_i)_0 + sum_{j in S_i}
                                                   log softmax(s_i)_j ]

* one denominator per anchor: the own key plus *every* filled queue slot,
  selected and unselected same-class slots included (``variant='v1'``, the
  paper's formula and the code default). ``variant='v2'`` (code only, not in
  the paper) sets the similarity of unselected same-class slots to 0 before
  the temperature: logit 0, not removed;
* fewer than ``pos_k`` same-class slots: all are used and the weight is
  1/(1 + P_i) (code behaviour); P_i = 0 gives MoCo's InfoNCE;
* ``pos_k=None`` selects every same-class slot: FCL, KCL's full-positive
  baseline;
* empty queue slots (label -1) are masked out of the denominator. The
  official code initialises the queue with random keys labelled -1 and keeps
  them in the denominator until they are overwritten; with the queue
  warm-up (``QueueWarmupHook``, on by default) the queue is full before the
  first step, so the two agree in training;
* the mean over anchors uses ``reduce_anchor_loss``: a W-process run equals
  the 1-process run on the same global batch (every anchor has its own key
  as a positive, so every anchor counts).

How the k positives are chosen (``pos_selection``):

* ``'random'`` (default; the paper: "randomly selecting k positive examples
  from the key memory for each query"): for every anchor, a uniformly
  random subset of size min(k, P_i) of its same-class slots, drawn
  independently per anchor. The randomness is a counter-based hash of
  ``(seed, step, global anchor index, queue slot)``, so the selection is
  *deterministic* for a given seed and step, does not touch (or depend on)
  the torch RNG state, and is identical for any number of ranks (the anchor
  index is the position in the global batch). The ``KCL`` algorithm passes
  its iteration counter (a checkpointed buffer) as ``step``.
* ``'topk'``: the official code, ``mask.float().topk(k)`` over the 0/1
  same-class mask. Ties are broken by torch's ``topk`` implementation (not
  uniform, the same subset for every anchor of a class); kept for parity.
"""
from typing import Optional, Tuple

import torch
from torch import nn

from ltcls.registry import MODELS
from ltcls.models.utils.gather import rank_offset
from .autocast import autocast_off
from .contrast_blocks import (concat_blocks, match_labels, memory_block_lse,
                              memory_block_of, memory_block_sums,
                              memory_logits_at, own_key_block)
from .multi_positive_nce import (multi_positive_nce, nce_from_sums,
                                 reduce_anchor_loss)
from .utils import check_choice, check_int, check_number, compute_dtype_of

__all__ = [
    'kcl_loss', 'kcl_loss_per_anchor', 'select_positives', 'KCLLoss',
    'POS_SELECTIONS', 'KCL_VARIANTS'
]

POS_SELECTIONS = ('random', 'topk')
KCL_VARIANTS = ('v1', 'v2')

_M32 = 0xFFFFFFFF


def _mix32(x):
    """A 32-bit integer hash (xor-shift-multiply, 'lowbias32'-like) that
    works on Python ints and int64 tensors holding values in [0, 2^32);
    the constants are < 2^31 so int64 products never overflow."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x5BD1E995) & _M32
    x = x ^ (x >> 16)
    return x


def _hash_keys(seed: int, step: int, rows: torch.Tensor,
               cols: torch.Tensor) -> torch.Tensor:
    """Deterministic pseudo-random 32-bit keys for (row, col) pairs."""
    base = _mix32((_mix32(int(seed) & _M32) ^ (int(step) & _M32)) & _M32)
    h = _mix32((rows & _M32) ^ base)
    return _mix32(h ^ _mix32(cols & _M32))


#: elements per column chunk of :func:`_candidate_keys` on a CPU (a chunk
#: and its temporary stay in cache: ~2 MB of int64 each)
_CPU_CHUNK = 1 << 18


def _mix32_(x: torch.Tensor, tmp: torch.Tensor) -> torch.Tensor:
    """:func:`_mix32` in place on an int64 tensor (``tmp``: a buffer of
    its shape), bit for bit the same values."""
    for mult, shift in ((0x7FEB352D, 16), (0x5BD1E995, 15), (None, 16)):
        torch.bitwise_right_shift(x, shift, out=tmp)
        x.bitwise_xor_(tmp)
        if mult is not None:
            x.mul_(mult).bitwise_and_(_M32)
    return x


def _candidate_keys(seed: int, step: int, rows: torch.Tensor,
                    same: torch.Tensor) -> torch.Tensor:
    """(N, K) int64: ``_hash_keys(seed, step, rows, cols)`` where ``same``
    is True, ``2^32`` (after every key) elsewhere.

    The same values as the plain expression, with two (N, K) buffers
    instead of a dozen fresh int64 temporaries; on a CPU the columns are
    hashed in chunks that stay in cache (a fixed number of chunks, set by
    the shape; one chunk on an accelerator, so no extra kernel launches).
    """
    n, k_len = same.shape
    base = _mix32((_mix32(int(seed) & _M32) ^ (int(step) & _M32)) & _M32)
    h = _mix32((rows.view(-1, 1) & _M32) ^ base)
    c = _mix32(torch.arange(k_len, device=same.device).view(1, -1))
    keys = torch.empty(n, k_len, dtype=torch.int64, device=same.device)
    width = k_len if same.device.type != 'cpu' else max(
        1, _CPU_CHUNK // max(n, 1))
    tmp = torch.empty(n, min(width, k_len), dtype=torch.int64,
                      device=same.device)
    for start in range(0, k_len, width):  # over column chunks, not rows
        part = keys[:, start:start + width]
        torch.bitwise_xor(h, c[:, start:start + width], out=part)
        _mix32_(part, tmp[:, :part.shape[1]])
    return keys.masked_fill_(~same, 1 << 32)  # keys are < 2^32


def select_positives(same: torch.Tensor,
                     pos_k: Optional[int],
                     pos_selection: str = 'random',
                     seed: int = 0,
                     step: int = 0,
                     row_offset: int = 0,
                     row_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Choose up to ``pos_k`` positives per row of a same-class mask.

    Args:
        same (Tensor): (N, K) bool, True where candidate j (a queue slot,
            or a view of the batch in the in-batch mode of ``SupConLoss``)
            has the label of anchor i (invalid candidates already False).
        pos_k (int, optional): Positives per anchor; None keeps all.
        pos_selection (str): ``'random'`` or ``'topk'`` (module docstring).
        seed (int): Seed of the random selection.
        step (int): Training step (changes the draw every step).
        row_offset (int): Global index of row 0 (``rank_offset``), so that
            every rank draws what a single process would.
        row_ids (Tensor, optional): (N,) global index of every row, for
            rows that are not contiguous in the global batch (the views of
            an (N, V, d) batch); overrides ``row_offset``.

    Returns:
        Tensor: (N, K) bool, a subset of ``same`` with min(pos_k, P_i) True
        entries in row i.
    """
    check_choice(None, 'pos_selection', pos_selection, POS_SELECTIONS)
    if pos_k is None:
        return same.clone()
    idx, ok = _select_positive_idx(same, pos_k, pos_selection, seed, step,
                                   row_offset, row_ids)
    return torch.zeros_like(same).scatter_(1, idx, ok)


def _select_positive_idx(
        same: torch.Tensor,
        pos_k: int,
        pos_selection: str = 'random',
        seed: int = 0,
        step: int = 0,
        row_offset: int = 0,
        row_ids: Optional[torch.Tensor] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The selection of :func:`select_positives` as column indices.

    Returns:
        tuple(Tensor, Tensor): ``idx`` (N, k') long and ``ok`` (N, k') bool
        with ``k' = min(pos_k, K)``: the selected positives of row i are
        ``idx[i][ok[i]]`` (distinct columns; ``ok`` False marks the filler
        entries of a row with fewer than k' candidates).
    """
    if int(pos_k) < 0:
        raise ValueError(f'pos_k must be >= 0 or None, got {pos_k}')
    n, k_len = same.shape
    pos_k = min(int(pos_k), k_len)
    if pos_k == 0 or same.numel() == 0:
        return (torch.zeros(n, 0, dtype=torch.long, device=same.device),
                torch.zeros(n, 0, dtype=torch.bool, device=same.device))
    if pos_selection == 'topk':
        _, idx = same.float().topk(pos_k, dim=1, largest=True, sorted=True)
        return idx, same.gather(1, idx)
    # dense over all (row, slot) pairs, no data-dependent shapes (the
    # nonzero / bincount / mask indexing of a sparse form each read the
    # device back): every candidate gets its hash key, the others sort
    # after every candidate, and the pos_k smallest keys of a row win,
    # i.e. a uniformly random subset of size min(pos_k, P_i)
    device = same.device
    if row_ids is not None:
        if row_ids.shape != (n, ):
            raise ValueError(f'row_ids must be ({n},), got '
                             f'{tuple(row_ids.shape)}')
        global_rows = row_ids.to(device).long()
    else:
        global_rows = torch.arange(n, device=device) + int(row_offset)
    keys = _candidate_keys(seed, step, global_rows, same)
    idx = keys.topk(pos_k, dim=1, largest=False, sorted=False).indices
    return idx, same.gather(1, idx)


def _check(query, key, labels, queue_keys, queue_labels, temperature):
    if query.dim() != 2:
        raise ValueError(f'query must be (N, d), got {tuple(query.shape)}')
    if key.shape != query.shape:
        raise ValueError(f'key {tuple(key.shape)} must match query '
                         f'{tuple(query.shape)}')
    if labels.dim() != 1 or labels.shape[0] != query.shape[0]:
        raise ValueError(f'labels must be ({query.shape[0]},), got '
                         f'{tuple(labels.shape)}')
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError(f'labels must be >= 0, got min {int(labels.min())}')
    if queue_keys.dim() != 2 or queue_keys.shape[1] != query.shape[1]:
        raise ValueError(f'queue_keys must be (K, {query.shape[1]}), got '
                         f'{tuple(queue_keys.shape)}')
    if queue_labels.dim() != 1 or \
            queue_labels.shape[0] != queue_keys.shape[0]:
        raise ValueError(f'queue_labels must be ({queue_keys.shape[0]},) '
                         '(class labels, -1 = empty slot), got '
                         f'{tuple(queue_labels.shape)}')
    check_number(None, 'temperature', temperature)


@autocast_off
def kcl_loss_per_anchor(
    query: torch.Tensor,
    key: torch.Tensor,
    labels: torch.Tensor,
    queue_keys: torch.Tensor,
    queue_labels: torch.Tensor,
    pos_k: Optional[int] = 6,
    temperature: float = 0.07,
    pos_selection: str = 'random',
    variant: str = 'v1',
    seed: int = 0,
    step: int = 0,
    row_offset: Optional[int] = None,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-anchor KCL loss (see module docstring).

    Args:
        query (Tensor): (N, d) L2-normalised queries (with gradient).
        key (Tensor): (N, d) their own keys (momentum encoder; detached).
        labels (Tensor): (N,) labels >= 0.
        queue_keys (Tensor): (K, d) keys of the memory (detached).
        queue_labels (Tensor): (K,) their labels, -1 = empty slot.
        pos_k (int, optional): k; None = FCL (all same-class slots).
        temperature (float): t. Defaults to 0.07.
        pos_selection (str): ``'random'`` (default) or ``'topk'``.
        variant (str): ``'v1'`` (default) or ``'v2'``.
        seed (int), step (int): Random-selection seed and step.
        row_offset (int, optional): Global index of this rank's first
            anchor; None asks ``rank_offset`` (a collective call).

    Returns:
        tuple: loss (N,) (float32, or float64 for float64 input), has_pos
        (N,) bool (always True: the own key), num_selected (N,) long.
    """
    _check(query, key, labels, queue_keys, queue_labels, temperature)
    check_choice(None, 'variant', variant, KCL_VARIANTS)
    q = query.to(compute_dtype_of(query))
    if row_offset is None:
        row_offset = rank_offset(q.shape[0], q.device)
    q = q / temperature  # scale (N, d), not the (N, 1 + K) logits
    if variant == 'v2' and pos_k is not None:
        # v2 changes unselected same-class logits: the (N, 1 + K) form
        own = own_key_block(q, key, (labels, ))
        memory = memory_block_of(q, queue_keys, (queue_labels, ))
        same = match_labels([memory], labels)
        chosen = select_positives(same, pos_k, pos_selection, seed, step,
                                  row_offset)
        memory = memory._replace(
            logits=memory.logits.masked_fill(same & ~chosen, 0.0))
        logits, valid = concat_blocks([own, memory])
        weight = torch.cat([match_labels([own], labels), chosen], dim=1)
        loss, has_pos = multi_positive_nce(logits, weight, valid)
        return loss, has_pos, chosen.sum(dim=1)
    # v1: the loss needs only three row sums (``nce_from_sums``): the
    # log-sum-exp over [own key, filled slots], the number of positives
    # and the sum of their logits; no (N, 1 + K) weights or concatenation
    own = (q * key.detach().to(q.dtype)).sum(dim=1)
    keys = queue_keys.detach().to(device=q.device, dtype=q.dtype)
    qlab = queue_labels.to(q.device)
    if pos_k is None:
        # FCL: every same-class slot, summed per class of the anchors
        lse_mem, w_mem, ws_mem = memory_block_sums(q, labels, keys, qlab,
                                                   1.0, None)
        num_sel = w_mem.round().long()
    else:
        lse_mem = memory_block_lse(q, keys, qlab >= 0)
        same = (labels.to(q.device).view(-1, 1) == qlab.view(1, -1)) & \
            (qlab >= 0).view(1, -1)
        idx, ok = _select_positive_idx(same, pos_k, pos_selection, seed,
                                       step, row_offset)
        picked = memory_logits_at(q, keys, idx)
        ws_mem = torch.where(ok, picked, 0.0).sum(dim=1)
        num_sel = ok.sum(dim=1)
        w_mem = num_sel.to(q.dtype)
    lse = torch.logaddexp(own, lse_mem)
    loss, has_pos = nce_from_sums(lse, w_mem + 1, own + ws_mem)
    return loss, has_pos, num_sel


def kcl_loss(query: torch.Tensor,
             key: torch.Tensor,
             labels: torch.Tensor,
             queue_keys: torch.Tensor,
             queue_labels: torch.Tensor,
             pos_k: Optional[int] = 6,
             temperature: float = 0.07,
             pos_selection: str = 'random',
             variant: str = 'v1',
             seed: int = 0,
             step: int = 0,
             row_offset: Optional[int] = None) -> torch.Tensor:
    """KCL loss averaged over the global batch (scalar); arguments as
    :func:`kcl_loss_per_anchor`."""
    loss, has_pos, _ = kcl_loss_per_anchor(query, key, labels, queue_keys,
                                           queue_labels, pos_k, temperature,
                                           pos_selection, variant, seed, step,
                                           row_offset)
    return reduce_anchor_loss(loss, has_pos)


@MODELS.register_module()
class KCLLoss(nn.Module):
    """k-positive contrastive loss over a labelled key queue (KCL / FCL).

    Args:
        pos_k (int, optional): Positives drawn from the queue per anchor
            (k = 6 in the paper); None = all same-class entries (FCL).
        temperature (float): Defaults to 0.07.
        pos_selection (str): ``'random'`` (default: the paper's semantics,
            deterministic given ``seed`` and ``step``, rank-invariant) or
            ``'topk'`` (the official code's ``topk`` on the 0/1 mask).
        variant (str): ``'v1'`` (default; unselected same-class entries stay
            in the denominator as negatives) or ``'v2'`` (code only: their
            similarity is set to 0).
        seed (int): Seed of the random selection. Defaults to 0.
        loss_weight (float): Defaults to 1.0.

    Shapes:
        query, key: (N, d); labels: (N,); queue_keys: (K, d);
        queue_labels: (K,), -1 marks empty slots.
    """

    def __init__(self,
                 pos_k: Optional[int] = 6,
                 temperature: float = 0.07,
                 pos_selection: str = 'random',
                 variant: str = 'v1',
                 seed: int = 0,
                 loss_weight: float = 1.0):
        super().__init__()
        check_int('KCLLoss', 'pos_k', pos_k, allow_none=True)
        check_number('KCLLoss', 'temperature', temperature)
        check_choice('KCLLoss', 'pos_selection', pos_selection, POS_SELECTIONS)
        check_choice('KCLLoss', 'variant', variant, KCL_VARIANTS)
        self.pos_k = pos_k
        self.temperature = float(temperature)
        self.pos_selection = pos_selection
        self.variant = variant
        self.seed = int(seed)
        self.loss_weight = loss_weight

    def forward(self,
                query: torch.Tensor,
                key: torch.Tensor,
                labels: torch.Tensor,
                queue_keys: torch.Tensor,
                queue_labels: torch.Tensor,
                step: int = 0,
                return_num_selected: bool = False):
        """Returns the scalar loss, and with ``return_num_selected`` also
        the (N,) number of queue positives used per anchor."""
        loss, has_pos, num_sel = kcl_loss_per_anchor(
            query, key, labels, queue_keys, queue_labels, self.pos_k,
            self.temperature, self.pos_selection, self.variant, self.seed,
            step)
        out = self.loss_weight * reduce_anchor_loss(loss, has_pos)
        return (out, num_sel) if return_num_selected else out

    def extra_repr(self) -> str:
        return (f'pos_k={self.pos_k}, temperature={self.temperature}, '
                f'pos_selection={self.pos_selection!r}, '
                f'variant={self.variant!r}, seed={self.seed}')
