# Copyright (c) ltcls contributors. All rights reserved.
"""Stop (or skip and count) a training step whose loss or gradient norm is
not finite; never write a non-finite checkpoint."""
import math
from typing import List

import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapperDict

from ltcls.registry import HOOKS

__all__ = ['NonFiniteGuardHook', 'NonFiniteLossError',
           'NonFiniteCheckpointError']


class NonFiniteLossError(FloatingPointError):
    """A training step had a non-finite loss term or gradient norm."""


class NonFiniteCheckpointError(FloatingPointError):
    """A checkpoint about to be written holds non-finite values."""


def _wrappers(optim_wrapper) -> list:
    if isinstance(optim_wrapper, OptimWrapperDict):
        return list(optim_wrapper.values())
    return [optim_wrapper]


def _fmt(value) -> str:
    return 'None' if value is None else f'{value:.6g}'


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Divergence guard, with the ``Guarded*OptimWrapper`` of
    :mod:`ltcls.engine.optimizers` (which skips ``optimizer.step()`` when the
    loss or the gradient norm is not finite and records it).

    After such a step, this hook (first of the ``after_train_iter`` hooks,
    so before any checkpoint of that iteration is written) names the
    iteration and the non-finite loss terms (every entry of the loss dict
    the model returned, e.g. ``loss_cls``, ``loss_contrast``, ``loss``) or
    the gradient norm, and

    * ``action='stop'`` (default): raises :class:`NonFiniteLossError`; the
      last checkpoint on disk is the last good one;
    * ``action='skip'``: logs a warning, counts the skipped steps
      (``train/nonfinite_skips`` in the logs) and trains on. The step is
      not applied, but what the forward pass updated (BN running
      statistics, momentum encoders, queues) is not rolled back: the
      checkpoint check below still stops a run whose state became
      non-finite. ``max_skips`` (optional) stops after that many skips.

    Before every checkpoint is written, the floating-point tensors of the
    model state and optimizer state are checked; a non-finite one raises
    :class:`NonFiniteCheckpointError` naming it (a non-finite checkpoint is
    never written).

    Args:
        action (str): ``'stop'`` or ``'skip'``. Defaults to ``'stop'``.
        max_skips (int, optional): With ``'skip'``, stop at the
            ``max_skips + 1``-th skipped step. Defaults to None (no limit).
        check_checkpoint (bool): Check checkpoints before they are written.
            Defaults to True.
    """

    priority = 'HIGHEST'

    def __init__(self,
                 action: str = 'stop',
                 max_skips=None,
                 check_checkpoint: bool = True) -> None:
        if action not in ('stop', 'skip'):
            raise ValueError("NonFiniteGuardHook: action must be 'stop' or "
                             f"'skip', got {action!r}")
        if max_skips is not None and (isinstance(max_skips, bool)
                                      or not isinstance(max_skips, int)
                                      or max_skips < 0):
            raise ValueError('NonFiniteGuardHook: max_skips must be None or '
                             f'an int >= 0, got {max_skips!r}')
        self.action = action
        self.max_skips = max_skips
        self.check_checkpoint = bool(check_checkpoint)
        self.num_skips = 0

    def before_train(self, runner) -> None:
        unguarded = [
            type(w).__name__ for w in _wrappers(runner.optim_wrapper)
            if not hasattr(w, 'nonfinite_event')
        ]
        if unguarded:
            runner.logger.warning(
                f'NonFiniteGuardHook: the optimizer wrapper(s) {unguarded} '
                'do not skip non-finite steps; use GuardedOptimWrapper / '
                'GuardedAmpOptimWrapper (optim_wrapper.type) to be guarded')

    @staticmethod
    def _bad_terms(outputs) -> List[str]:
        bad = []
        for name, value in (outputs or {}).items():
            if isinstance(value, torch.Tensor):
                if value.is_floating_point() and \
                        not bool(torch.isfinite(value).all()):
                    bad.append(f'{name}={value.detach().float().sum():g}')
            elif isinstance(value, float) and not math.isfinite(value):
                bad.append(f'{name}={value:g}')
        return bad

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        events = []
        for w in _wrappers(runner.optim_wrapper):
            event = getattr(w, 'nonfinite_event', None)
            if event is not None:
                events.append(event)
                w.nonfinite_event = None
        if not events:
            return
        terms = self._bad_terms(outputs)
        what = (f'non-finite loss term(s) {", ".join(terms)}'
                if terms else 'finite loss terms but a non-finite update')
        grad = ', '.join(f'gradient norm {_fmt(e["grad_norm"])}'
                         for e in events)
        batch = runner.iter - runner.epoch * len(runner.train_dataloader)
        where = (f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}, '
                 f'batch {batch + 1})')
        if self.action == 'skip' and (self.max_skips is None
                                      or self.num_skips < self.max_skips):
            self.num_skips += 1
            runner.message_hub.update_scalar('train/nonfinite_skips',
                                             self.num_skips)
            runner.logger.warning(
                f'NonFiniteGuardHook: {where}: {what}; {grad}. The step was '
                f'skipped ({self.num_skips} skipped so far)')
            return
        raise NonFiniteLossError(
            f'training diverged at {where}: {what}; {grad}. The optimizer '
            'step was not applied and no checkpoint is written for it; the '
            'last checkpoint in the work dir is the last good one. Lower the '
            'learning rate (or check the data), or set '
            "default_hooks.nonfinite_guard.action='skip' to skip such steps")

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.check_checkpoint:
            return
        bad = []

        def visit(prefix, obj):
            if isinstance(obj, torch.Tensor):
                if obj.is_floating_point() and \
                        not bool(torch.isfinite(obj).all()):
                    bad.append(prefix)
            elif isinstance(obj, dict):
                for k, v in obj.items():
                    visit(f'{prefix}.{k}' if prefix else str(k), v)
            elif isinstance(obj, (list, tuple)):
                for i, v in enumerate(obj):
                    visit(f'{prefix}.{i}', v)

        visit('state_dict', checkpoint.get('state_dict', {}))
        visit('optimizer', checkpoint.get('optimizer', {}))
        if bad:
            shown = ', '.join(bad[:5]) + (f' (+{len(bad) - 5} more)'
                                          if len(bad) > 5 else '')
            raise NonFiniteCheckpointError(
                f'refusing to write a checkpoint at iteration {runner.iter}'
                f' (epoch {runner.epoch}): non-finite values in {shown}')
