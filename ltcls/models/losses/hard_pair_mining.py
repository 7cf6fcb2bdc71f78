# Copyright (c) ltcls contributors. All rights reserved.
"""Supervised hard positive / negative mining (ResCom SPM, Eq. 5).

Per anchor, :func:`mine_hard_pairs` keeps the ``num_pos`` *least* similar
same-class keys and the ``num_neg`` *most* similar other-class keys.

Selection order is that of a stable sort of the row (ascending for
positives, descending for negatives): ties are broken by the lower key
index, so the result is deterministic (a plain ``topk`` leaves tie order
unspecified, which changes gradients when tied keys differ). It is computed
without sorting the (A, M) row:

1. ``topk(sorted=False)`` gives k entries and the k-th value ``v_k`` of
   each row; every entry strictly better than ``v_k`` is among them;
2. the entries equal to ``v_k`` that topk took (an arbitrary ``need`` of
   the ties) are replaced by the ``need`` lowest-index ties: the r-th tie
   is the first column whose running count (int16; int32 for M > 32767)
   of the (A, M) bool tie mask reaches r, a binary search per slot; the
   (A, M) key is freed before the count is made;
3. the k indices are put in index order without a sort: a picked column's
   slot is the running count of an (A, M) bool mark of the picked;
4. ``order='value'`` then stably sorts the k by value (an (A, k) sort),
   which reproduces the full stable sort's first k; ``order='index'``
   (:func:`~ltcls.models.losses.rescom_loss.rescom_contrastive_per_anchor`,
   whose log-sum-exp is symmetric in the columns) skips that sort.

Non-candidates are pushed to the far end of the order (``+inf`` for
positives, ``-inf`` for negatives), so missing candidates come back as
invalid columns. A NaN similarity ranks as ``+inf`` (a NaN negative is
mined first, so a non-finite input gives a non-finite loss). The selected
similarities are gathered from the live similarity matrix, so the gradient
flows into the anchors through exactly the selected entries. No host sync,
no ``K x (K - 1) Q`` index buffer (the official code's ``neg_index`` needs
4.2 GB for iNaturalist, spec_rescom.md §2.9).
"""
from typing import Callable, Tuple

import torch

__all__ = ['mine_hard_pairs']


def _pos_key(sim: torch.Tensor, is_pos: torch.Tensor,
             valid: torch.Tensor) -> torch.Tensor:
    """Ascending key of the positives: non-candidates and NaN are +inf."""
    inf = float('inf')
    return torch.where(is_pos, sim, inf).nan_to_num_(inf, inf, -inf)


def _neg_key(sim: torch.Tensor, is_pos: torch.Tensor,
             valid: torch.Tensor) -> torch.Tensor:
    """Descending key of the negatives: non-candidates are -inf, NaN +inf."""
    inf = float('inf')
    key = sim.masked_fill(is_pos, -inf).nan_to_num_(inf, inf, -inf)
    return key.masked_fill_(~valid, -inf)


def _first_k(to_key: Callable, sim: torch.Tensor, is_pos: torch.Tensor,
             valid: torch.Tensor, k: int, largest: bool,
             by_value: bool) -> torch.Tensor:
    """Indices of the first ``k`` entries of each row of a stable sort of
    ``to_key(sim, is_pos, valid)``.

    The (A, M) key is built here and freed before the (A, M) int16 / int32
    running counts are made.

    Args:
        to_key (callable): :func:`_pos_key` or :func:`_neg_key` (elementwise,
            NaN-free output).
        sim (Tensor): (A, M) detached similarities.
        is_pos (Tensor): (A, M) bool.
        valid (Tensor): (1, M) bool, key slot filled.
        k (int): 0 <= k <= M.
        largest (bool): Descending (True) or ascending order.
        by_value (bool): Return the k in sort order (True) or in index
            order (False; same set, no (A, k) sort).

    Returns:
        Tensor: (A, k) long.
    """
    a, m = sim.shape
    if k == 0:
        return torch.zeros(a, 0, dtype=torch.long, device=sim.device)
    key = to_key(sim, is_pos, valid)
    if k == 1:  # argmax / argmin return the first extremal index
        return (key.argmax(1) if largest else key.argmin(1)).view(a, 1)
    vals, idx = torch.topk(key, k, dim=1, largest=largest, sorted=False)
    kth = (vals.amin(1) if largest else vals.amax(1)).view(a, 1)
    # every entry strictly better than kth is among topk's k; of the ties
    # at kth it took an arbitrary `need`: they become the `need` lowest-
    # index ties (the r-th tie of a row is the first column whose running
    # tie count reaches r: a running count and a binary search per slot)
    tie = key == kth  # (A, M) bool
    del key
    tie_slot = vals == kth
    # running counts <= M: int16 when it fits (half an (A, M) float32)
    cdtype = torch.int16 if m <= torch.iinfo(torch.int16).max else torch.int32
    count = tie.cumsum(1, dtype=cdtype)  # (A, M), reused below
    first = torch.searchsorted(count, tie_slot.cumsum(1, dtype=cdtype))
    idx = torch.where(tie_slot, first, idx)  # the replaced keep value kth
    # index order without a sort: the rank of a picked column among the
    # picked is the running count of an (A, M) bool mark at that column
    mark = tie.zero_().scatter_(1, idx, True)
    del tie
    torch.cumsum(mark, 1, dtype=cdtype, out=count)
    del mark
    slot = count.gather(1, idx).long() - 1
    del count
    idx = torch.empty_like(idx).scatter_(1, slot, idx)
    if not by_value:
        return idx
    vals = torch.empty_like(vals).scatter_(1, slot, vals)
    order = torch.sort(vals, dim=1, descending=largest, stable=True).indices
    return idx.gather(1, order)


def mine_hard_pairs(
    similarity: torch.Tensor, anchor_labels: torch.Tensor,
    key_labels: torch.Tensor, num_pos: int, num_neg: int,
    order: str = 'value'
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Supervised hard positive / negative mining (ResCom SPM, Eq. 5).

    Args:
        similarity (Tensor): (A, M) anchor-key similarities (live; the
            gradient flows through the selected entries).
        anchor_labels (Tensor): (A,) long.
        key_labels (Tensor): (M,) long, -1 for empty slots (never selected
            as a valid pair).
        num_pos (int): Q_p, hardest (least similar) positives kept.
        num_neg (int): Q_n, hardest (most similar) negatives kept. Both are
            capped at M; missing candidates come back as invalid columns.
        order (str): ``'value'`` (default): columns in the order of a
            stable sort (see below); ``'index'``: the same selected keys in
            increasing key index (no (A, Q) sort; for a loss symmetric in
            the columns, e.g. a log-sum-exp over them).

    Returns:
        tuple: ``pos_sim`` (A, Q_p), ``pos_valid`` (A, Q_p) bool,
        ``neg_sim`` (A, Q_n), ``neg_valid`` (A, Q_n) bool. A column is
        invalid when the anchor has fewer valid positives (negatives) than
        requested; its similarity is then a placeholder and must be masked.
        With ``order='value'`` ties are broken by the lower key index
        (the order of a stable sort: ascending similarity for positives,
        descending for negatives); the selected set is the same for both
        orders.
    """
    if similarity.dim() != 2:
        raise ValueError('similarity must be (A, M), got '
                         f'{tuple(similarity.shape)}')
    a, m = similarity.shape
    if anchor_labels.shape != (a, ) or key_labels.shape != (m, ):
        raise ValueError(f'labels must be ({a},) and ({m},), got '
                         f'{tuple(anchor_labels.shape)} and '
                         f'{tuple(key_labels.shape)}')
    for name, value in (('num_pos', num_pos), ('num_neg', num_neg)):
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f'{name} must be an int >= 0, got {value!r}')
    if order not in ('value', 'index'):
        raise ValueError(f"order must be 'value' or 'index', got {order!r}")
    num_pos, num_neg = min(int(num_pos), m), min(int(num_neg), m)
    key_valid = (key_labels >= 0).view(1, -1)
    anchor_labels = anchor_labels.view(-1, 1)
    is_pos = (anchor_labels == key_labels.view(1, -1)) & key_valid
    by_value = order == 'value'
    with torch.no_grad():
        sim = similarity.detach()
        # hardest positives: ascending, non-candidates (+inf) at the end
        pos_idx = _first_k(_pos_key, sim, is_pos, key_valid, num_pos, False,
                           by_value)
        # hardest negatives: descending, non-candidates (-inf) at the end
        neg_idx = _first_k(_neg_key, sim, is_pos, key_valid, num_neg, True,
                           by_value)
    pos_sim = similarity.gather(1, pos_idx)
    neg_sim = similarity.gather(1, neg_idx)
    # validity from the (A, Q) selected labels, not an (A, M) mask
    pos_valid = is_pos.gather(1, pos_idx)
    neg_lab = key_labels[neg_idx]
    neg_valid = (neg_lab >= 0) & (neg_lab != anchor_labels)
    return pos_sim, pos_valid, neg_sim, neg_valid
