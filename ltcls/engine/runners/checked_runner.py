# Copyright (c) ltcls contributors. All rights reserved.
"""A Runner that checks a ``resume`` / ``load_from`` checkpoint against the
model before loading it.

mmengine 0.10.7's ``Runner.load_or_resume`` loads ``load_from`` with
``strict=False`` (another model's checkpoint only logs warnings and
training goes on from a half-initialised model) and ``resume`` loads the
weights non-strictly, then fails deep in ``optimizer.load_state_dict``
("loaded state dict contains a parameter group that doesn't match...").
:class:`CheckedRunner` runs :func:`ltcls.utils.checkpoint.
check_checkpoint_matches` first, so both stop with a
:class:`~ltcls.utils.checkpoint.CheckpointMismatchError` that lists the
missing / unexpected keys and shape differences, before the checkpoint's
weights, optimizer or scheduler state are loaded into anything.

Config switch: ``load_from_strict = False`` (default True, see
``configs/_base_/default_runtime.py``) allows a partial ``load_from`` (what
matches is loaded, mmengine warns about the rest). ``resume`` is always
checked: resuming another model's optimizer / schedule is never meaningful.

Cost: the check reads the checkpoint file once more (to the CPU, before
mmengine reads it for loading), once per run.

Why a registered Runner (``runner_type = 'CheckedRunner'`` in the default
runtime) rather than a check in ``tools/train.py``: the checkpoint to load
is only known inside ``load_or_resume`` (auto-resume reads
``last_checkpoint``), and the check then holds for every way a config is
run (``tools/train.py``, ``RUNNERS.build(cfg)`` from Python), not only one
script.
"""
import os.path as osp

from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import find_latest_checkpoint

from ltcls.registry import RUNNERS
from ltcls.utils.checkpoint import check_checkpoint_matches

__all__ = ['CheckedRunner']


@RUNNERS.register_module()
class CheckedRunner(Runner):
    """mmengine's ``Runner`` whose ``load_or_resume`` first checks that the
    checkpoint fits the model (see the module doc)."""

    def _checkpoint_to_load(self):
        """``(path, 'resume' | 'load_from')`` as ``load_or_resume`` decides
        it, or ``(None, None)``."""
        if self._resume and self._load_from is None:
            path = find_latest_checkpoint(self.work_dir)
            if path is not None and '://' not in path \
                    and not osp.isfile(path):
                pointer = osp.join(self.work_dir, 'last_checkpoint')
                raise FileNotFoundError(
                    f'auto-resume: {pointer} names {path}, which does not '
                    'exist')
            return path, ('resume' if path is not None else None)
        if self._resume:
            return self._load_from, 'resume'
        if self._load_from is not None:
            return self._load_from, 'load_from'
        return None, None

    def load_or_resume(self) -> None:
        if self._has_loaded:
            return None
        path, how = self._checkpoint_to_load()
        strict = self.cfg.get('load_from_strict', True)
        if not isinstance(strict, bool):
            raise TypeError(
                'load_from_strict must be True or False, got '
                f'{strict!r} ({type(strict).__name__})')
        if how == 'resume':
            hint = ('  resume needs a checkpoint of this very config (the '
                    'optimizer and scheduler states are restored too).')
        else:
            hint = ('  To load only the matching entries, set '
                    '`load_from_strict = False` in the config (or '
                    '--cfg-options load_from_strict=False).')
        if how == 'resume' or (how == 'load_from' and strict):
            model = self.model.module if is_model_wrapper(
                self.model) else self.model
            check_checkpoint_matches(model, path, hint=hint)
        return super().load_or_resume()
