# Copyright (c) ltcls contributors. All rights reserved.
"""Deferred re-weighting (DRW) of LDAM-DRW (Cao et al., NeurIPS 2019).

Training runs with uniform class weights until ``start_epoch`` (160 of 200
on CIFAR-LT), then the loss switches to the class-balanced weights of Cui et
al. 2019 ("effective number of samples"):

.. math::

    w_j = \\frac{1 - \\beta}{1 - \\beta^{n_j}}, \\qquad
    w \\leftarrow C \\, w / \\textstyle\\sum_k w_k,

with ``beta = 0.9999``, exactly ``train.py`` (``--train_rule DRW``) of
github.com/kaidic/LDAM-DRW. The hook sets the weights at the start of every
epoch from the epoch number, so a resumed run gets the right weights.
"""
from typing import Dict, Optional, Sequence, Union

import numpy as np
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.models.losses import CrossEntropyLoss

from ltcls.registry import HOOKS
from .class_counts_hook import train_class_counts

__all__ = ['effective_number_weights', 'DRWHook']


def effective_number_weights(class_counts: Union[Sequence[int], np.ndarray],
                             beta: float = 0.9999) -> np.ndarray:
    """Class-balanced weights ``(1 - beta) / (1 - beta^n_j)``, scaled to sum
    to ``C``.

    Args:
        class_counts (Sequence[int]): (C, ) training images per class, > 0.
        beta (float): In [0, 1). ``beta = 0`` gives all ones.

    Returns:
        np.ndarray: (C, ) float64 weights with mean 1.
    """
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0 or np.any(counts <= 0):
        raise ValueError('effective_number_weights: class_counts must be a '
                         f'non-empty 1-D sequence of counts > 0, got {counts}')
    if not 0 <= beta < 1:
        raise ValueError(f'effective_number_weights: beta must be in [0, 1), '
                         f'got {beta}')
    effective_num = 1.0 - np.power(beta, counts)
    w = (1.0 - beta) / effective_num
    return w / np.sum(w) * counts.size


@HOOKS.register_module()
class DRWHook(Hook):
    """Switch the loss's class weights to effective-number weights at
    ``start_epoch``.

    Applies to every model module with ``set_class_weight`` (``LDAMLoss``)
    and to mmpretrain's ``CrossEntropyLoss`` (its ``class_weight``). Note
    that mmpretrain's CE divides the weighted sum by the batch size, whereas
    ``LDAMLoss`` (``weighted_mean=True``) divides by the sum of the weights,
    as ``F.cross_entropy(weight=...)`` of the reference code does.

    Args:
        start_epoch (int): First (0-based) epoch with re-weighting; the
            reference uses 160 for 200 epochs (``epoch // 160``).
            Defaults to 160.
        beta (float): Effective-number ``beta``. Defaults to 0.9999.
        class_counts (Sequence[int], optional): Counts to use instead of
            counting the train set. Defaults to None.
    """
    priority = 'NORMAL'

    def __init__(self,
                 start_epoch: int = 160,
                 beta: float = 0.9999,
                 class_counts: Optional[Sequence[int]] = None):
        if isinstance(start_epoch, bool) or not isinstance(start_epoch, int) \
                or start_epoch < 0:
            raise ValueError('DRWHook: start_epoch must be an int >= 0, got '
                             f'{start_epoch!r}')
        if not 0 <= beta < 1:
            raise ValueError(f'DRWHook: beta must be in [0, 1), got {beta}')
        self.start_epoch = start_epoch
        self.beta = float(beta)
        self.class_counts = None if class_counts is None else np.asarray(
            class_counts, dtype=np.int64)
        self._original_ce: Dict[str, Optional[list]] = {}
        self._active: Optional[bool] = None

    def _targets(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        targets = [(n, m) for n, m in model.named_modules()
                   if callable(getattr(m, 'set_class_weight', None))
                   or isinstance(m, CrossEntropyLoss)]
        if not targets:
            raise RuntimeError(
                'DRWHook found no loss to re-weight: the model has no module '
                'with `set_class_weight` (e.g. LDAMLoss) and no mmpretrain '
                'CrossEntropyLoss')
        return targets

    def before_train(self, runner) -> None:
        targets = self._targets(runner)
        for name, m in targets:
            if isinstance(m, CrossEntropyLoss):
                self._original_ce[name] = m.class_weight
        if runner.max_epochs is not None and \
                self.start_epoch >= runner.max_epochs:
            runner.logger.warning(
                f'DRWHook: start_epoch={self.start_epoch} >= max_epochs='
                f'{runner.max_epochs}; re-weighting never starts')

    def before_train_epoch(self, runner) -> None:
        active = runner.epoch >= self.start_epoch
        if active == self._active:
            return
        if active:
            if self.class_counts is None:
                self.class_counts = train_class_counts(runner)
            weights = effective_number_weights(self.class_counts, self.beta)
        else:
            weights = None
        for name, m in self._targets(runner):
            if isinstance(m, CrossEntropyLoss) and \
                    not callable(getattr(m, 'set_class_weight', None)):
                m.class_weight = weights.tolist() if active else \
                    self._original_ce.get(name, None)
            else:
                m.set_class_weight(weights)
        self._active = active
        if active:
            runner.logger.info(
                f'DRWHook: epoch {runner.epoch}: class weights switched to '
                f'effective-number weights (beta={self.beta}); min '
                f'{weights.min():.4f}, max {weights.max():.4f}')
