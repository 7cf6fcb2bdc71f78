# Copyright (c) ltcls contributors. All rights reserved.
"""Supervised hard positive / negative mining (ResCom SPM, Eq. 5).

Per anchor, :func:`mine_hard_pairs` keeps the ``num_pos`` *least* similar
same-class keys and the ``num_neg`` *most* similar other-class keys.

Selection order is that of a stable sort of the row (ascending for
positives, descending for negatives): ties are broken by the lower key
index, so the result is deterministic (a plain ``topk`` leaves tie order
unspecified, which changes gradients when tied keys differ). It is computed
without sorting the (A, M) row:

1. ``topk(sorted=False)`` gives the k-th value ``v_k`` of each row;
2. every entry strictly better than ``v_k`` is selected, plus the
   lowest-index entries equal to ``v_k`` until there are k (a cumulative
   count of the ties);
3. the k selected indices, in index order (a scatter-min by running
   count), are stably sorted by value (an (A, k) sort), which reproduces
   the full stable sort's first k.

Non-candidates are pushed to the far end of the order (``+inf`` for
positives, ``-inf`` for negatives), so missing candidates come back as
invalid columns. A NaN similarity ranks as ``+inf`` (a NaN negative is
mined first, so a non-finite input gives a non-finite loss). The selected
similarities are gathered from the live similarity matrix, so the gradient
flows into the anchors through exactly the selected entries. No host sync,
no ``K x (K - 1) Q`` index buffer (the official code's ``neg_index`` needs
4.2 GB for iNaturalist, spec_rescom.md §2.9).
"""
from typing import Tuple

import torch

__all__ = ['mine_hard_pairs']


def _first_k(key: torch.Tensor, k: int, largest: bool) -> torch.Tensor:
    """Indices of the first ``k`` entries of each row of a stable sort.

    Args:
        key (Tensor): (A, M) float without NaN.
        k (int): 0 <= k <= M.
        largest (bool): Descending (True) or ascending order.

    Returns:
        Tensor: (A, k) long, in sort order (ties by the lower index).
    """
    a, m = key.shape
    if k == 0:
        return torch.zeros(a, 0, dtype=torch.long, device=key.device)
    if k == 1:  # argmax / argmin return the first extremal index
        return (key.argmax(1) if largest else key.argmin(1)).view(a, 1)
    vals = torch.topk(key, k, dim=1, largest=largest, sorted=False).values
    kth = (vals.amin(1) if largest else vals.amax(1)).view(a, 1)
    # every entry strictly better than kth is among the k; so is a number
    # of kth ties: the lowest-index ones are kept, as many as topk took
    need = (vals == kth).sum(1, keepdim=True, dtype=torch.int32)
    better = key > kth if largest else key < kth
    tie = key == kth
    sel = better | (tie & (tie.cumsum(1, dtype=torch.int32) <= need))
    # exactly k entries per row are selected; the r-th one (index order) is
    # the first column whose running count is r: an order-independent
    # scatter-min of the column indices by running count (slot 0 holds the
    # unselected columns before the first selected one and is dropped)
    count = sel.cumsum(1)
    cols = torch.arange(m, device=key.device).expand(a, m)
    idx = torch.full((a, k + 1), m, dtype=torch.long, device=key.device)
    idx = idx.scatter_reduce_(1, count, cols, 'amin')[:, 1:]
    order = torch.sort(
        key.gather(1, idx), dim=1, descending=largest, stable=True).indices
    return idx.gather(1, order)


def mine_hard_pairs(
    similarity: torch.Tensor, anchor_labels: torch.Tensor,
    key_labels: torch.Tensor, num_pos: int, num_neg: int
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

    Returns:
        tuple: ``pos_sim`` (A, Q_p), ``pos_valid`` (A, Q_p) bool,
        ``neg_sim`` (A, Q_n), ``neg_valid`` (A, Q_n) bool. A column is
        invalid when the anchor has fewer valid positives (negatives) than
        requested; its similarity is then a placeholder and must be masked.
        Ties are broken by the lower key index (the order of a stable
        sort: ascending similarity for positives, descending for
        negatives).
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
    num_pos, num_neg = min(int(num_pos), m), min(int(num_neg), m)
    key_valid = key_labels >= 0
    anchor_labels = anchor_labels.view(-1, 1)
    is_pos = (anchor_labels == key_labels.view(1, -1)) & key_valid
    inf = float('inf')
    with torch.no_grad():
        sim = similarity.detach()
        # hardest positives: ascending, non-candidates (+inf) at the end
        pos_key = torch.where(is_pos, sim, inf).nan_to_num_(inf, inf, -inf)
        pos_idx = _first_k(pos_key, num_pos, largest=False)
        del pos_key
        # hardest negatives: descending, non-candidates (-inf) at the end
        neg_key = torch.where(is_pos, -inf, sim).nan_to_num_(inf, inf, -inf)
        neg_key.masked_fill_(~key_valid, -inf)
        neg_idx = _first_k(neg_key, num_neg, largest=True)
        del neg_key
    pos_sim = similarity.gather(1, pos_idx)
    neg_sim = similarity.gather(1, neg_idx)
    # validity from the (A, Q) selected labels, not an (A, M) mask
    pos_valid = is_pos.gather(1, pos_idx)
    neg_lab = key_labels[neg_idx]
    neg_valid = (neg_lab >= 0) & (neg_lab != anchor_labels)
    return pos_sim, pos_valid, neg_sim, neg_valid
