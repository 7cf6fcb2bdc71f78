# Copyright (c) ltcls contributors. All rights reserved.
"""The column blocks of every contrastive loss, built in one place.

Each contrastive loss in ltcls contrasts an anchor against a few *blocks* of
columns, builds positive weights from label fields, and calls
:func:`~ltcls.models.losses.multi_positive_nce`::

    blocks = [own_key_block(...), batch_block(...), memory_block_of(...)]
    logits, valid = concat_blocks(blocks)
    pos = match_labels(blocks, anchor_labels)            # (A, M) bool
    loss, has_pos = multi_positive_nce(logits, pos, valid)

The blocks:

* :func:`own_key_block` (A, 1): the anchor's own key (MoCo's positive
  column, KCL / SBCL-queue), no gradient; it carries the anchor's own labels;
* :func:`batch_block` (A, M): the in-batch bank, the anchor's own row masked
  (``valid`` False); the bank is :func:`gather_bank`: local, or the global
  batch of all ranks with exact gradients in the *canonical order* (the
  order of one process holding the whole global batch: ``v * N_global +
  global sample index`` for view-major rows);
* :func:`memory_block_of` (A, L): queue keys (no gradient); slots whose first
  label field is -1 (empty) are masked.

A :class:`Block` holds the logits, the ``valid`` mask (the columns that enter
the softmax) and any number of *label fields* per column (class ids, SBCL
subclass ids, instance ids, ...); :func:`match_labels` turns one field into
the positives. Logits are divided by ``temperature`` after the product when
it is given; with ``temperature=None`` they are the plain products of the
given queries (a loss may pass queries already divided by t, or divide
itself, e.g. SBCL's two temperatures).

PaCo, the multi-task (GPaCo) loss and ResCom use the older wrapper
:func:`in_batch_block`, which returns ``(logits, pos, valid)`` and is built
on the same pieces; its in-batch block may also be per-group (``group_size``): a one-process
emulation of a W-process per-GPU bank (spec_paco.md §8.4, spec_rescom.md
§8.12).
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch

from ltcls.models.losses.autocast import autocast_off
from ltcls.models.utils.gather import (all_gather_with_grad, concat_all_gather,
                                       world_info)
from .multi_positive_nce import block_lse
from .utils import compute_dtype_of

__all__ = [
    'Block', 'Bank', 'gather_bank', 'own_key_block', 'batch_block',
    'memory_block_of', 'concat_blocks', 'match_labels', 'in_batch_block',
    'memory_block_sums', 'memory_block_lse',
    'memory_logits_at', 'compute_dtype_of'
]


class Block(NamedTuple):
    """A block of columns of A anchors.

    Attributes:
        logits (Tensor): (A, M) float.
        valid (Tensor): (A, M) bool, True for columns in the softmax.
        labels (tuple): one entry per label field: a long tensor of the
            column labels broadcastable to (A, M) ((1, M) for shared
            columns, (A, 1) for the own key), or None (the field has no
            label here: it matches nothing).
    """
    logits: torch.Tensor
    valid: torch.Tensor
    labels: Tuple[Optional[torch.Tensor], ...]


class Bank(NamedTuple):
    """In-batch bank rows (:func:`gather_bank`).

    Attributes:
        rows (Tensor): (M, d) bank rows in the compute dtype, canonical
            order; a gradient flows to the rows of every rank.
        labels (tuple[Tensor]): (M,) label fields of the bank rows.
        anchor_labels (tuple[Tensor]): (n,) the local rows' label fields
            (``offset_fields`` made global, as in ``labels``).
        self_cols (Tensor): (n,) long, the bank column of every local row
            (also its canonical global index).
    """
    rows: torch.Tensor
    labels: Tuple[torch.Tensor, ...]
    anchor_labels: Tuple[torch.Tensor, ...]
    self_cols: torch.Tensor


def _check_rows(name, x, labels, dim=None):
    if x.dim() != 2:
        raise ValueError(f'{name} must be (n, d), got {tuple(x.shape)}')
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f'{name} must have dim {dim}, got {x.shape[1]}')
    if labels.dim() != 1 or labels.shape[0] != x.shape[0]:
        raise ValueError(f'{name} labels must be ({x.shape[0]},), got '
                         f'{tuple(labels.shape)}')


def _view_major_ids(num_views: int, sizes: List[int], total: int,
                    device) -> torch.Tensor:
    """Canonical index ``v * total + offset_r + i`` of every row of the
    rank-major concatenation of per-rank view-major blocks (one block of
    ``num_views * sizes[r]`` rows per rank; ``sizes`` are Python ints, so
    building the indices reads nothing back from the device)."""
    views = torch.arange(num_views, device=device).view(-1, 1) * total
    out, offset = [], 0
    for size in sizes:  # one block per rank, no loop over rows
        idx = torch.arange(offset, offset + size, device=device).view(1, -1)
        out.append((views + idx).reshape(-1))
        offset += size
    return torch.cat(out)


def gather_bank(rows: torch.Tensor,
                labels: Sequence[torch.Tensor],
                gather: bool = True,
                num_views: int = 1,
                offset_fields: Sequence[int] = ()) -> Bank:
    """The in-batch bank: the local rows, or those of all ranks.

    Args:
        rows (Tensor): (n, d) local rows; ``num_views`` view-major blocks of
            ``n / num_views`` samples (row ``v * N + i`` = view v of sample
            i). Converted to the compute dtype (:func:`compute_dtype_of`).
        labels (Sequence[Tensor]): label fields, each (n,).
        gather (bool): Bank over all ranks (``all_gather_with_grad``: a
            W-process run has the gradients of the 1-process run). With
            ``num_views > 1`` the gathered rows are re-ordered from
            rank-major into the canonical order ``v * N_global + global
            sample index``, so that order-dependent rules (KCL's positive
            draw, ``topk``) pick what one process would. Defaults to True.
        num_views (int): Views per sample in ``rows``. Defaults to 1 (the
            gathered order, rank-major, is then canonical).
        offset_fields (Sequence[int]): Indices of label fields that hold
            rank-local ids (e.g. SBCL's instance ids, < n): the rank's row
            offset is added before the gather, so equal ids mean the same
            rank.

    Returns:
        Bank: rows (M, d), labels (M,) each, anchor_labels (n,) each and
        self_cols (n,) with M the global (or local) row count.
    """
    n = rows.shape[0]
    if int(num_views) < 1 or n % int(num_views):
        raise ValueError(f'num_views={num_views} must be >= 1 and divide '
                         f'the {n} rows of features')
    num_views = int(num_views)
    rows = rows.to(compute_dtype_of(rows))
    device = rows.device
    labels = tuple(labels)
    rank, world = world_info() if gather else (0, 1)
    n_samples = n // num_views
    if world == 1:
        self_cols = torch.arange(n, device=device)
        return Bank(rows, labels, labels, self_cols)
    # per-rank sample counts as Python ints (one read-back, multi-rank only;
    # the gathers below read the row counts back already)
    sizes = concat_all_gather(
        torch.tensor([n_samples], device=device, dtype=torch.long)).tolist()
    total, offset = sum(sizes), sum(sizes[:rank])
    local = tuple(f + offset * num_views if i in offset_fields else f
                  for i, f in enumerate(labels))
    bank = all_gather_with_grad(rows)
    bank_labels = [concat_all_gather(f) for f in local]
    self_cols = _view_major_ids(num_views, sizes[rank:rank + 1], total,
                                device) + offset
    if num_views > 1:
        # rank-major -> canonical column order
        order = torch.argsort(_view_major_ids(num_views, sizes, total, device))
        bank = bank.index_select(0, order)
        bank_labels = [
            f.index_select(0, order.to(f.device)) for f in bank_labels
        ]
    return Bank(bank, tuple(bank_labels), local, self_cols)


def _scale(logits: torch.Tensor, temperature: Optional[float]):
    return logits if temperature is None else logits / temperature


def _column_labels(labels: Sequence[Optional[torch.Tensor]], device):
    return tuple(None if f is None else f.to(device).view(1, -1)
                 for f in labels)


@autocast_off
def own_key_block(queries: torch.Tensor,
                  keys: torch.Tensor,
                  labels: Sequence[torch.Tensor],
                  temperature: Optional[float] = None) -> Block:
    """The own-key column (MoCo's positive): ``q_i . k_i`` per anchor.

    Args:
        queries (Tensor): (A, d) anchors in the compute dtype (possibly
            already divided by the temperature).
        keys (Tensor): (A, d) their own keys (detached here).
        labels (Sequence[Tensor]): the anchors' label fields, each (A,);
            the key carries them, so it matches its anchor in every field.
        temperature (float, optional): Divide the logits. Defaults to None.

    Returns:
        Block: logits (A, 1), valid (A, 1) all True.
    """
    logits = (queries * keys.detach().to(queries.dtype)).sum(
        dim=1, keepdim=True)
    valid = torch.ones_like(logits, dtype=torch.bool)
    return Block(
        _scale(logits, temperature), valid,
        tuple(f.to(queries.device).view(-1, 1) for f in labels))


@autocast_off
def batch_block(queries: torch.Tensor,
                bank: Bank,
                temperature: Optional[float] = None) -> Block:
    """Anchors against the in-batch bank, the anchor's own row masked.

    Args:
        queries (Tensor): (A, d) anchors in the compute dtype; row ``r`` is
            the local bank row ``r`` (possibly divided by the temperature).
        bank (Bank): :func:`gather_bank` of the local rows.
        temperature (float, optional): Divide the logits. Defaults to None.

    Returns:
        Block: logits (A, M), valid (A, M) (False at ``bank.self_cols``),
        labels ``bank.labels`` as (1, M).
    """
    n_a, device = queries.shape[0], queries.device
    logits = queries @ bank.rows.t()
    valid = torch.ones(
        n_a, bank.rows.shape[0], dtype=torch.bool, device=device)
    valid[torch.arange(n_a, device=device), bank.self_cols] = False
    return Block(
        _scale(logits, temperature), valid,
        _column_labels(bank.labels, device))


@autocast_off
def memory_block_of(queries: torch.Tensor,
                    keys: torch.Tensor,
                    labels: Sequence[Optional[torch.Tensor]],
                    temperature: Optional[float] = None) -> Block:
    """Anchors against memory (queue) keys; no gradient to the keys.

    Args:
        queries (Tensor): (A, d) anchors in the compute dtype.
        keys (Tensor): (L, d) keys.
        labels (Sequence[Tensor]): label fields of the keys, each (L,) or
            None; the first field is the class label, -1 = empty slot
            (masked out of ``valid``).
        temperature (float, optional): Divide the logits. Defaults to None.

    Returns:
        Block: logits (A, L), valid (A, L) (an expanded view).
    """
    device = queries.device
    logits = queries @ keys.detach().to(device=device, dtype=queries.dtype).t()
    cols = _column_labels(labels, device)
    valid = (cols[0] >= 0).expand(queries.shape[0], -1)
    return Block(_scale(logits, temperature), valid, cols)


def concat_blocks(
        blocks: Sequence[Block]) -> Tuple[torch.Tensor, torch.Tensor]:
    """(A, sum M) logits and valid mask of ``blocks``, in order."""
    if len(blocks) == 1:
        return blocks[0].logits, blocks[0].valid
    return (torch.cat([b.logits for b in blocks],
                      dim=1), torch.cat([b.valid for b in blocks], dim=1))


def match_labels(blocks: Sequence[Block],
                 anchor_labels: torch.Tensor,
                 field: int = 0) -> torch.Tensor:
    """(A, sum M) bool: column label ``field`` equals the anchor's, on valid
    columns only (a field that is None in a block matches nothing there).

    Args:
        blocks (Sequence[Block]): as for :func:`concat_blocks`.
        anchor_labels (Tensor): (A,) the anchors' labels of ``field``.
        field (int): Which label field. Defaults to 0 (class labels).
    """
    a = anchor_labels.view(-1, 1)
    out = []
    for b in blocks:  # one entry per block, not per anchor or class
        col = b.labels[field]
        out.append(
            torch.zeros_like(b.valid) if col is None else
            (a.to(col.device) == col) & b.valid)
    return out[0] if len(out) == 1 else torch.cat(out, dim=1)


# --- the (logits, pos, valid) wrapper: PaCo, multi-task, ResCom ------------


@autocast_off
def in_batch_block(
    anchors: torch.Tensor,
    anchor_labels: torch.Tensor,
    temperature: float,
    keys: Optional[torch.Tensor] = None,
    key_labels: Optional[torch.Tensor] = None,
    gather: bool = False,
    group_size: Optional[int] = None,
    num_samples: Optional[int] = None
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Anchor-vs-batch similarities, self excluded.

    The in-batch bank is ``[anchors; keys]`` (``keys`` are extra in-batch
    embeddings that are not anchors, e.g. PaCo's momentum keys), each
    gathered over the ranks with ``gather`` (rank-major). Both are
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
    anchors = anchors.to(compute_dtype_of(anchors))
    bank = gather_bank(anchors, (anchor_labels, ), gather)
    if keys is not None:
        key_bank = gather_bank(keys.to(anchors.dtype), (key_labels, ), gather)
        bank = bank._replace(
            rows=torch.cat([bank.rows, key_bank.rows]),
            labels=(torch.cat([bank.labels[0], key_bank.labels[0]]), ))
    block = batch_block(anchors, bank, temperature)
    valid = block.valid
    if group_size is not None:
        n_a, m, device = valid.shape[0], valid.shape[1], valid.device
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
    block = block._replace(valid=valid)
    return block.logits, match_labels([block], anchor_labels), valid


# --- the memory block reduced to row sums: PaCo, GPaCo, multi-task ---------
#
#
# PaCo, GPaCo and the multi-task SupCon treat every queue key with the
# anchor's label as a positive of weight 1 (times a scalar). Their queue block
# enters :func:`~ltcls.models.losses.multi_positive_nce.nce_from_sums`
# through three row sums only, so it is computed without any (A, L) mask or
# weight matrix (L = 65,536 keys make each fresh (A, L) buffer expensive):
#
# * ``lse_i = log sum_{j valid} exp(z_i . k_j / t + b_j)``: one ``addmm``
#   writes the logits with the column bias ``b_j`` (``-inf`` for empty slots,
#   plus an optional per-label bias and a shift) already added, then one
#   log-sum-exp;
# * ``S_i = sum_{j: y_j = y_i} z_i . k_j / t = z_i . K_{y_i} / t`` with the
#   per-class key sums ``K_c`` (a deterministic ``index_put_`` accumulation of
#   the (L, d) keys into (C, d));
# * ``W_i = n_{y_i}``, the number of filled slots of the anchor's class.
#
# The keys are detached (a queue gets no gradient), so the gradient of
# ``S_i`` into the anchor is ``K_{y_i} / t``, the sum of the per-key
# gradients. No host sync.


@autocast_off
def memory_block_sums(
    anchors: torch.Tensor,
    anchor_labels: torch.Tensor,
    queue_keys: torch.Tensor,
    queue_labels: torch.Tensor,
    temperature: float,
    num_classes: Optional[int],
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
        num_classes (int, optional): C, the size of the per-class key sums;
            None sums per class of the anchors instead (sorted anchor
            labels, ``searchsorted``: any label values, no class count).
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
    if num_classes is None and label_bias is not None:
        raise ValueError('label_bias needs num_classes (one bias per class)')
    dtype = compute_dtype_of(anchors)
    device = anchors.device
    z = anchors.to(dtype) / temperature  # scale (A, d), not (A, L)
    keys = queue_keys.detach().to(device=device, dtype=dtype)
    qlab = queue_labels.to(device)
    filled = qlab >= 0
    y = anchor_labels.to(device)
    if num_classes is None:
        # buckets = the anchors' classes: slot j goes to the first position
        # of its label among the sorted anchor labels (no class count, no
        # data-dependent shape)
        sorted_y = torch.sort(y).values
        pos = torch.searchsorted(sorted_y, qlab).clamp_max(
            max(y.numel() - 1, 0))
        in_range = filled & (sorted_y[pos] == qlab) if y.numel() else \
            torch.zeros_like(filled)
        safe = torch.where(in_range, pos, 0)
        num_buckets = max(y.numel(), 1)
        y = torch.searchsorted(sorted_y, y)
    else:
        in_range = filled & (qlab < num_classes)
        safe = torch.where(in_range, qlab, 0)
        num_buckets = num_classes
    bias = None
    if label_bias is not None:
        label_bias = label_bias.to(device=device, dtype=dtype)
        bias = torch.where(in_range, label_bias[safe], 0.0)
    if shift:
        bias = shift if bias is None else bias + shift
    lse = memory_block_lse(z, keys, filled, bias)
    # per-class sums of the keys; index_put_ with accumulate is
    # deterministic (sort-based) on CUDA, unlike index_add_
    w = in_range.to(dtype)
    class_keys = torch.zeros(
        num_buckets, keys.shape[1], dtype=dtype, device=device).index_put_(
            (safe, ), keys * w[:, None], accumulate=True)
    counts = torch.zeros(
        num_buckets, dtype=dtype, device=device).index_put_((safe, ),
                                                            w,
                                                            accumulate=True)
    w_sum = counts[y]
    ws = (z * class_keys[y]).sum(dim=1)
    if label_bias is not None:
        ws = ws + w_sum * label_bias[anchor_labels.to(device)]
    return lse, w_sum, ws


def memory_block_lse(z: torch.Tensor,
                     keys: torch.Tensor,
                     filled: torch.Tensor,
                     bias=None) -> torch.Tensor:
    """(A,) ``log sum_{j filled} exp(z_i . k_j + b_j)`` without an (A, L)
    mask: one ``addmm`` writes the logits with the column bias (``-inf``
    for empty slots) already added, then one log-sum-exp
    (:func:`~ltcls.models.losses.multi_positive_nce.block_lse`: the
    product buffer is exponentiated in place and reused by the backward).

    Args:
        z (Tensor): (A, d) anchors, already divided by the temperature.
        keys (Tensor): (L, d) keys in ``z``'s dtype and device (no grad).
        filled (Tensor): (L,) bool, the slots in the softmax.
        bias (Tensor or float, optional): (L,) or scalar column bias.

    Returns:
        Tensor: (A,), ``-inf`` when no slot is filled (with a zero, not
        NaN, gradient).
    """
    # an all-empty queue keeps finite logits (a log-sum-exp over -inf only
    # has a NaN gradient) and its lse is set to -inf afterwards
    any_filled = filled.any()
    col = torch.zeros(
        filled.shape, dtype=z.dtype,
        device=z.device).masked_fill(~filled & any_filled, float('-inf'))
    if bias is not None:
        col = col + bias
    # block_lse: one owned (A, L) buffer, no saved logits or softmax
    lse = block_lse(z, keys, col)
    return torch.where(any_filled, lse, float('-inf'))


def memory_logits_at(z: torch.Tensor, keys: torch.Tensor,
                     idx: torch.Tensor) -> torch.Tensor:
    """(A, k) logits ``z_i . k_{idx_ij}`` of a few selected slots per anchor
    (e.g. KCL's positives) without the (A, L) logits.

    Args:
        z (Tensor): (A, d) anchors (already divided by the temperature).
        keys (Tensor): (L, d) keys (detached here).
        idx (Tensor): (A, k) long slot indices.
    """
    picked = keys.detach().to(device=z.device, dtype=z.dtype)[idx]
    return (picked * z.unsqueeze(1)).sum(dim=2)
