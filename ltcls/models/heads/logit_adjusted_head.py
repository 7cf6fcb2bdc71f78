# Copyright (c) ltcls contributors. All rights reserved.
"""Post-hoc logit adjustment (Menon et al., "Long-tail learning via logit
adjustment", ICLR 2021, Eq. 6).

A model trained with plain CE is corrected at test time by subtracting the
scaled log training prior: ``argmax_j z_j - tau * log pi_j`` with
``pi_j = n_j / sum_k n_k``. Training is unchanged (``LinearClsHead`` with
its loss), so a CE checkpoint loads as is. The counts come from the train
set through ``ClassCountsHook`` (also in ``tools/test.py``).
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.structures import DataSample

from ltcls.registry import MODELS
from ..losses.class_prior import ClassCountsMixin
from ..losses.utils import compute_dtype_of

__all__ = ['LogitAdjustedClsHead']


@MODELS.register_module()
class LogitAdjustedClsHead(ClassCountsMixin, LinearClsHead):
    """``LinearClsHead`` that predicts with ``z - tau * log(prior)``.

    Args:
        tau (float): Scale of the log prior; the paper's post-hoc default is
            1.0 (its Table 3 also tunes it). Defaults to 1.0.
        class_counts (Sequence[int], optional): Training images per class;
            normally set by ``ClassCountsHook``. Defaults to None.
        **kwargs: Arguments of ``LinearClsHead``.

    Shapes:
        feats[-1]: (N, D); predict scores: softmax(fc(x) - tau log pi),
        (N, C).
    """

    def __init__(self,
                 tau: float = 1.0,
                 class_counts: Optional[Sequence[int]] = None,
                 **kwargs):
        super().__init__(**kwargs)
        tau = float(tau)
        if not abs(tau) < float('inf'):
            raise ValueError(f'LogitAdjustedClsHead: tau must be finite, got '
                             f'{tau}')
        self.tau = tau
        self._init_class_counts(class_counts, self.num_classes)

    def adjusted_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """(N, C) logits ``fc(x) - tau * log pi``."""
        cls_score = self(feats)
        self._require_class_counts(cls_score.size(-1))
        dtype = compute_dtype_of(cls_score)
        return cls_score.to(dtype) - self.tau * self.log_prior(dtype)

    def predict(
        self,
        feats: Tuple[torch.Tensor],
        data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        return self._get_predictions(self.adjusted_logits(feats), data_samples)
