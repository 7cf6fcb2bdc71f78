# Copyright (c) ltcls contributors. All rights reserved.
"""Class weights from the effective number of samples (Cui et al., CVPR 2019).

``E_k = (1 - beta ** n_k) / (1 - beta)`` is the "effective number" of the
``n_k`` training images of class ``k``; ``beta = 0`` gives ``E_k = 1`` (no
re-weighting) and ``beta -> 1`` gives ``E_k -> n_k`` (inverse-frequency
weights). Used by

* ResCom's class-balanced SupCon (spec_rescom.md §2.2), and
* the "multi-task + re-weighting" baselines of PaCo Tables 13/14
  (spec_paco.md §2.9; GPaCo code ``MultiTaskLoss``, beta = 0.999).

Normalisations (``normalize``):

* ``'mean'`` (default, the ResCom code; what the GPaCo code intends, whose
  ``cal_weight_for_classes`` on a (1, C) tensor yields all-ones weights):
  ``w_k = mean_j(E_j) / E_k``;
* ``'none'`` (ResCom paper, Eq. 2): ``w_k = 1 / E_k = (1 - beta) /
  (1 - beta ** n_k)``; tiny when beta is close to 1;
* ``'sum'`` (Cui et al.'s CB loss): ``w_k = C * (1 / E_k) / sum_j (1 / E_j)``.

``1 - beta ** n`` is computed as ``-expm1(n * log(beta))`` in float64, so
``beta = 0.999999`` (ResCom's CIFAR config) keeps full precision.
"""
from typing import Sequence, Union

import numpy as np
import torch

__all__ = ['effective_num', 'effective_num_weights', 'EFFECTIVE_NUM_NORMS']

EFFECTIVE_NUM_NORMS = ('mean', 'none', 'sum')

CountsType = Union[Sequence[float], np.ndarray, torch.Tensor]


def _check_beta(beta: float) -> float:
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise TypeError(f'effective-number beta must be a number in [0, 1), '
                        f'got {beta!r}') from None
    if not 0.0 <= beta < 1.0:
        raise ValueError(
            f'effective-number beta must be in [0, 1), got {beta}')
    return beta


def _as_counts(class_counts: CountsType) -> torch.Tensor:
    if isinstance(class_counts, torch.Tensor):
        counts = class_counts.detach().to('cpu', torch.float64)
    else:
        counts = torch.as_tensor(
            np.asarray(class_counts, dtype=np.float64), dtype=torch.float64)
    if counts.dim() != 1 or counts.numel() == 0:
        raise ValueError('class_counts must be a non-empty 1-D sequence, got '
                         f'shape {tuple(counts.shape)}')
    if not torch.isfinite(counts).all() or (counts <= 0).any():
        raise ValueError('class_counts must be finite and > 0 (a class '
                         'without training images has no effective number), '
                         f'got {counts.tolist()[:10]}...')
    return counts


def effective_num(class_counts: CountsType, beta: float) -> torch.Tensor:
    """Effective numbers ``E_k = (1 - beta^n_k) / (1 - beta)``.

    Args:
        class_counts (Sequence | ndarray | Tensor): (C,) counts, all > 0.
        beta (float): In [0, 1).

    Returns:
        Tensor: (C,) float64 on the CPU.
    """
    beta = _check_beta(beta)
    counts = _as_counts(class_counts)
    if beta == 0.0:
        return torch.ones_like(counts)
    one_minus_pow = -torch.expm1(counts * np.log(beta))
    return one_minus_pow / (-np.expm1(np.log(beta)))  # / (1 - beta)


def effective_num_weights(class_counts: CountsType,
                          beta: float,
                          normalize: str = 'mean') -> torch.Tensor:
    """Per-class weights from the effective number of samples.

    Args:
        class_counts (Sequence | ndarray | Tensor): (C,) training images per
            class, all > 0.
        beta (float): In [0, 1). 0 gives all-ones weights.
        normalize (str): ``'mean'`` (``mean(E) / E_k``, ResCom code),
            ``'none'`` (``1 / E_k``, ResCom paper Eq. 2) or ``'sum'``
            (weights sum to C, Cui et al.). Defaults to ``'mean'``.

    Returns:
        Tensor: (C,) float64 weights on the CPU.

    Example:
        >>> effective_num_weights([100, 10, 1], beta=0.0)
        tensor([1., 1., 1.], dtype=torch.float64)
    """
    if normalize not in EFFECTIVE_NUM_NORMS:
        raise ValueError(f'normalize must be one of {EFFECTIVE_NUM_NORMS}, '
                         f'got {normalize!r}')
    e = effective_num(class_counts, beta)
    if normalize == 'mean':
        return e.mean() / e
    inv = 1.0 / e
    if normalize == 'none':
        return inv
    return inv * (inv.numel() / inv.sum())
