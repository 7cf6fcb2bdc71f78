# Copyright (c) ltcls contributors. All rights reserved.
"""tau-normalised classifier (Kang et al., "Decoupling Representation and
Classifier for Long-Tailed Recognition", ICLR 2020, Sec. 4).

A post-hoc fix of a jointly trained (CE) linear classifier: each class
weight is rescaled by a power of its norm, ``w~_i = w_i / ||w_i||^tau``,
and the bias is dropped (as in the decoupling code's ``pnorm``). ``tau = 1``
is cosine-like (all norms equal), ``tau = 0`` keeps the raw weights.
Training is unchanged (plain linear layer with bias, so a CE checkpoint of
``LinearClsHead`` loads as is); only ``predict`` uses the normalised
weights. ``tools/analysis_tools/tau_norm_sweep.py`` sweeps tau.
"""
from typing import List, Optional, Tuple

import torch
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.structures import DataSample

from ltcls.registry import MODELS

__all__ = ['tau_normalize', 'TauNormClsHead']


def tau_normalize(weight: torch.Tensor,
                  tau: float,
                  eps: float = 1e-12) -> torch.Tensor:
    """``weight / ||weight_i||^tau`` row by row.

    Args:
        weight (Tensor): (C, D) class weights.
        tau (float): Exponent, >= 0.
        eps (float): Floor of the row norms (all-zero rows stay zero).

    Returns:
        Tensor: (C, D).
    """
    norms = weight.norm(p=2, dim=1, keepdim=True).clamp_min(eps)
    return weight / norms.pow(tau)


def _check_tau(tau) -> float:
    try:
        tau = float(tau)
    except (TypeError, ValueError):
        raise TypeError(f'TauNormClsHead: tau must be a number, got '
                        f'{tau!r}') from None
    if not 0 <= tau < float('inf'):
        raise ValueError(f'TauNormClsHead: tau must be finite and >= 0, '
                         f'got {tau}')
    return tau


@MODELS.register_module()
class TauNormClsHead(LinearClsHead):
    """``LinearClsHead`` whose predictions use tau-normalised weights.

    Args:
        tau (float): Norm exponent (>= 0). Defaults to 1.0.
        **kwargs: Arguments of ``LinearClsHead`` (``num_classes``,
            ``in_channels``, ``loss``, ``init_cfg``...).

    Shapes:
        feats[-1]: (N, D); predict scores: (N, C) =
        softmax(x @ tau_normalize(W, tau).T).
    """

    def __init__(self, tau: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.tau = _check_tau(tau)

    def set_tau(self, tau: float) -> None:
        self.tau = _check_tau(tau)

    def tau_norm_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """(N, C) logits of the tau-normalised classifier, no bias."""
        x = self.pre_logits(feats)
        return x @ tau_normalize(self.fc.weight, self.tau).t()

    def predict(
        self,
        feats: Tuple[torch.Tensor],
        data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        return self._get_predictions(self.tau_norm_logits(feats), data_samples)
