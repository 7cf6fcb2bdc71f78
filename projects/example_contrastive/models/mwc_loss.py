"""The example method's loss: MoCo over [own key, memory], where same-class
memory keys are extra positives of weight ``memory_weight``.

For anchor i with query q_i, own key k_i and memory keys m_1..m_L::

    s_i0 = q_i . k_i / t,   s_ij = q_i . m_j / t   (j = 1..L, valid slots)
    w_i0 = 1,               w_ij = memory_weight * [label(m_j) == y_i]
    l_i  = - sum_j w_ij log softmax(s_i)_j / sum_j w_ij

It is written the ltcls way: build the blocks (``contrast_blocks``), build
the weights, call the shared core ``multi_positive_nce``. An illustration
of the protocol, not a published method.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ltcls.models.losses.contrast_blocks import (concat_blocks,
                                                 match_labels,
                                                 memory_block_of,
                                                 own_key_block)
from ltcls.models.losses.multi_positive_nce import (multi_positive_nce,
                                                    reduce_anchor_loss)
from ltcls.models.losses.utils import check_number, compute_dtype_of
from ltcls.registry import MODELS


def mwc_loss_per_anchor(q: torch.Tensor,
                        k: torch.Tensor,
                        labels: torch.Tensor,
                        memory_keys: Optional[torch.Tensor],
                        memory_labels: Optional[torch.Tensor],
                        temperature: float = 0.1,
                        memory_weight: float = 0.5
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor loss.

    Args:
        q (Tensor): (N, d) L2-normalised queries.
        k (Tensor): (N, d) their own keys (no gradient).
        labels (Tensor): (N,) long class labels.
        memory_keys (Tensor, optional): (L, d) memory keys.
        memory_labels (Tensor, optional): (L,) long, -1 = empty slot.
        temperature (float): t. Defaults to 0.1.
        memory_weight (float): Weight of a same-class memory key.

    Returns:
        tuple(Tensor, Tensor): ``loss`` (N,) and ``has_pos`` (N,) bool (the
        anchor contract of :mod:`ltcls.models.losses.utils`; always True
        here: the own key is a positive).
    """
    q = q.to(compute_dtype_of(q))
    blocks = [own_key_block(q, k, [labels], temperature)]
    if memory_keys is not None:
        blocks.append(
            memory_block_of(q, memory_keys, [memory_labels], temperature))
    logits, valid = concat_blocks(blocks)
    pos = match_labels(blocks, labels).to(logits.dtype)
    # weights: 1 on the own key, memory_weight on same-class memory keys
    weight = pos * memory_weight
    weight[:, 0] = 1.0
    return multi_positive_nce(logits, weight, valid, check_weights=False)


@MODELS.register_module()
class MemoryWeightedContrastLoss(nn.Module):
    """Registered module around :func:`mwc_loss_per_anchor` (mean over the
    global batch, the anchor reduction contract of ltcls.models.losses).

    Args:
        temperature (float): Defaults to 0.1.
        memory_weight (float): Defaults to 0.5.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self,
                 temperature: float = 0.1,
                 memory_weight: float = 0.5,
                 loss_weight: float = 1.0):
        super().__init__()
        self.temperature = check_number('MemoryWeightedContrastLoss',
                                        'temperature', temperature)
        self.memory_weight = check_number(
            'MemoryWeightedContrastLoss',
            'memory_weight',
            memory_weight,
            allow_zero=True)
        self.loss_weight = float(loss_weight)

    def forward(self, q, k, labels, memory_keys=None, memory_labels=None):
        """Shapes as :func:`mwc_loss_per_anchor`; returns a scalar."""
        loss, has_pos = mwc_loss_per_anchor(
            F.normalize(q, dim=1), k, labels, memory_keys, memory_labels,
            self.temperature, self.memory_weight)
        return self.loss_weight * reduce_anchor_loss(loss, has_pos)
