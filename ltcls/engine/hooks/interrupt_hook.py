# Copyright (c) ltcls contributors. All rights reserved.
"""Simulated interruption, to test resuming (not for real training)."""
import os
from typing import Optional

from mmengine.hooks import Hook

from ltcls.registry import HOOKS

__all__ = ['InterruptTrainingHook']


@HOOKS.register_module()
class InterruptTrainingHook(Hook):
    """End the process abruptly (``os._exit``, like a pre-empted job: no
    ``after_train`` hook, no clean-up) once ``epoch`` epochs or ``iter``
    iterations are done, after the checkpoint of that step is written
    (lowest priority). Used by the exact-resume tests, e.g.
    ``--cfg-options default_hooks.interrupt.type=InterruptTrainingHook
    default_hooks.interrupt.iter=8``.

    Args:
        epoch (int, optional): Exit after this many epochs.
        iter (int, optional): Exit after this many iterations.
        exit_code (int): The process's exit status. Defaults to 0.
    """

    priority = 'LOWEST'

    def __init__(self,
                 epoch: Optional[int] = None,
                 iter: Optional[int] = None,
                 exit_code: int = 0) -> None:
        if (epoch is None) == (iter is None):
            raise ValueError('InterruptTrainingHook: give exactly one of '
                             f'epoch / iter, got epoch={epoch}, iter={iter}')
        self.epoch, self.iter, self.exit_code = epoch, iter, int(exit_code)

    def _exit(self, runner, what: str) -> None:
        runner.logger.warning(f'InterruptTrainingHook: exiting after {what}')
        for handler in runner.logger.handlers:
            handler.flush()
        os._exit(self.exit_code)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if self.iter is not None and runner.iter + 1 == self.iter:
            self._exit(runner, f'iteration {self.iter}')

    def after_train_epoch(self, runner) -> None:
        if self.epoch is not None and runner.epoch + 1 == self.epoch:
            self._exit(runner, f'epoch {self.epoch}')
