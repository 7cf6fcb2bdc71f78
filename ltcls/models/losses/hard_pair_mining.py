# Copyright (c) ltcls contributors. All rights reserved.
"""Supervised hard-pair mining (ResCom SPM, Eq. 5).

:func:`mine_hard_pairs` is the supervised hard positive / negative mining
(SPM, Eq. 5): per anchor, the ``num_pos`` *least* similar same-class keys and
the ``num_neg`` *most* similar other-class keys. Selection is a stable sort,
so ties are broken deterministically by the lower slot index (a plain
``topk`` leaves tie order unspecified, which changes gradients when tied
keys differ). The selected similarities are gathered from the live
similarity matrix, so the gradient flows into the anchors through exactly
the selected entries; the keys never get a gradient. No
``K x (K - 1) Q`` index buffer is built (the official code's ``neg_index``
needs 4.2 GB for iNaturalist, spec §2.9).
"""
from typing import Tuple

import torch

__all__ = ['mine_hard_pairs']


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
        Ties are broken by the lower key index.
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
    key_valid = (key_labels >= 0).unsqueeze(0)
    is_pos = (anchor_labels.view(-1, 1) == key_labels.view(1, -1)) & key_valid
    is_neg = key_valid & ~is_pos
    with torch.no_grad():
        sim = similarity.detach()
        # hardest positives: ascending, non-candidates pushed to the end
        pos_key = sim.masked_fill(~is_pos, float('inf'))
        pos_idx = torch.sort(pos_key, dim=1, stable=True).indices[:, :num_pos]
        neg_key = sim.masked_fill(~is_neg, float('-inf'))
        neg_idx = torch.sort(
            neg_key, dim=1, descending=True, stable=True).indices[:, :num_neg]
    pos_sim = similarity.gather(1, pos_idx)
    neg_sim = similarity.gather(1, neg_idx)
    pos_valid = is_pos.gather(1, pos_idx)
    neg_valid = is_neg.gather(1, neg_idx)
    return pos_sim, pos_valid, neg_sim, neg_valid
