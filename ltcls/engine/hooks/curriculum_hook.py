# Copyright (c) ltcls contributors. All rights reserved.
"""Curriculum weight alpha of the hybrid networks (Hybrid-SC / Hybrid-PSC).

``L = alpha * L_contrastive + (1 - alpha) * L_CE`` with alpha decaying from
1 over training (Wang et al. CVPR 2021, §4.2 of spec_hybrid.md; the
parabolic form is BBN's cumulative-learning schedule)::

    parabolic: alpha = 1 - (T / T_max) ** 2     (CIFAR-LT)
    linear:    alpha = 1 - T / T_max            (iNaturalist 2018)
    constant:  alpha = value                    (the alpha = 0.5 ablation)

T is the 0-based epoch (decision §9.10: alpha = 1 in the first epoch and
``1 - ((T_max - 1) / T_max) ** 2 > 0`` in the last, i.e. BBN's
``1 - ((epoch - 1) / max_epoch) ** 2`` with 1-based epochs); with
``by_epoch=False`` T / T_max are the iteration and the total iterations.
alpha is recomputed from the runner's epoch / iteration, so a resumed run
continues the curriculum where it stopped.
"""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ltcls.registry import HOOKS

__all__ = ['curriculum_alpha', 'CurriculumAlphaHook']

SCHEDULES = ('parabolic', 'linear', 'constant')


def curriculum_alpha(schedule: str,
                     progress: float,
                     total: float,
                     value: float = 0.5) -> float:
    """alpha for ``progress`` (epoch or iteration) out of ``total``.

    Args:
        schedule (str): ``'parabolic'``, ``'linear'`` or ``'constant'``.
        progress (float): T, >= 0.
        total (float): T_max, > 0.
        value (float): alpha of the ``'constant'`` schedule.

    Returns:
        float: alpha, clipped to [0, 1] (T > T_max gives 0).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f'curriculum schedule must be one of {SCHEDULES}, '
                         f'got {schedule!r}')
    if schedule == 'constant':
        return float(value)
    if not total > 0:
        raise ValueError(f'curriculum total (T_max) must be > 0, got {total}')
    ratio = min(max(float(progress) / float(total), 0.0), 1.0)
    return 1.0 - ratio**2 if schedule == 'parabolic' else 1.0 - ratio


@HOOKS.register_module()
class CurriculumAlphaHook(Hook):
    """Set the model's curriculum weight (``model.alpha``) every epoch.

    Args:
        schedule (str): ``'parabolic'`` (CIFAR-LT), ``'linear'``
            (iNaturalist) or ``'constant'``. Defaults to ``'parabolic'``.
        value (float): alpha of the ``'constant'`` schedule, in [0, 1].
            Defaults to 0.5.
        by_epoch (bool): Update once per epoch from the 0-based epoch
            (the paper). False updates every iteration from the iteration
            count. Defaults to True.
        total (int, optional): T_max; defaults to the train loop's
            ``max_epochs`` (``max_iters`` with ``by_epoch=False``).
        zero_based (bool): T = epoch (True, alpha = 1 in the first epoch) or
            epoch + 1 (False, alpha = 0 in the last epoch). Defaults to True.
        attr (str): Attribute of the (unwrapped) model to set. Defaults to
            ``'alpha'``.

    alpha is logged as ``train/alpha`` every iteration and printed at the
    start of each epoch.
    """
    priority = 'NORMAL'

    def __init__(self,
                 schedule: str = 'parabolic',
                 value: float = 0.5,
                 by_epoch: bool = True,
                 total: Optional[int] = None,
                 zero_based: bool = True,
                 attr: str = 'alpha'):
        if schedule not in SCHEDULES:
            raise ValueError(f'CurriculumAlphaHook: schedule must be one of '
                             f'{SCHEDULES}, got {schedule!r}')
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError('CurriculumAlphaHook: value must be in [0, 1], '
                             f'got {value!r}')
        if total is not None and (isinstance(total, bool)
                                  or not isinstance(total, int)
                                  or total < 1):
            raise ValueError('CurriculumAlphaHook: total must be an int >= 1 '
                             f'or None, got {total!r}')
        self.schedule = schedule
        self.value = float(value)
        self.by_epoch = by_epoch
        self.total = total
        self.zero_based = zero_based
        self.attr = attr
        self.alpha: Optional[float] = None

    def _model(self, runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not hasattr(model, self.attr):
            raise AttributeError(
                f'CurriculumAlphaHook: the model {type(model).__name__} has '
                f'no attribute {self.attr!r} to set (use a hybrid model such '
                'as HybridSC / HybridPSC, or set attr=...)')
        return model

    def _set(self, runner, progress: int, total: int) -> None:
        t = progress if self.zero_based else progress + 1
        self.alpha = curriculum_alpha(self.schedule, t, total, self.value)
        setattr(self._model(runner), self.attr, self.alpha)

    def before_train(self, runner) -> None:
        self._model(runner)  # fail before the first iteration

    def before_train_epoch(self, runner) -> None:
        if not self.by_epoch:
            return
        self._set(runner, runner.epoch, self.total or runner.max_epochs)
        runner.logger.info(f'CurriculumAlphaHook: epoch {runner.epoch + 1}, '
                           f'{self.attr} = {self.alpha:.6f}')

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if self.by_epoch:
            return
        self._set(runner, runner.iter, self.total or runner.max_iters)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if self.alpha is not None:
            runner.message_hub.update_scalar(f'train/{self.attr}',
                                             self.alpha)
