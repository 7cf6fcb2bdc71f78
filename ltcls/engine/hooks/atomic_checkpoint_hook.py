# Copyright (c) ltcls contributors. All rights reserved.
"""A ``CheckpointHook`` whose checkpoints survive a crash at any moment.

mmengine 0.10.7's ``CheckpointHook`` (a) removes the oldest kept checkpoint
*before* writing the new one, (b) writes the new one in place
(``LocalBackend.put`` opens the target with ``'wb'``) and (c) rewrites
``last_checkpoint`` in place. With ``max_keep_ckpts=1`` a kill during the
save leaves no complete checkpoint and a ``last_checkpoint`` naming a
half-written file, so ``--resume`` fails. ``save_best`` likewise removes the
previous best before writing the new one.

:class:`AtomicCheckpointHook` keeps every option of ``CheckpointHook`` and
changes only the order and the way of writing:

1. the checkpoint goes to a temporary file in the same folder, flushed,
   fsynced and ``os.replace``d onto its name
   (:class:`ltcls.utils.atomic_io.AtomicLocalBackend`);
2. only then ``last_checkpoint`` is rewritten, atomically too;
3. only then the checkpoints that fall out of ``max_keep_ckpts`` (and a
   superseded best checkpoint) are removed.

A kill at any point therefore leaves ``last_checkpoint`` naming a complete
checkpoint; at most a hidden ``.<name>.tmp-<pid>`` file is left, which the
next run removes in ``before_train``. Only the main process writes or
removes files (``Runner.save_checkpoint`` is ``master_only``); the other
ranks return right after, as in mmengine.

Why a subclass and not mmengine's hook: the order of remove / write /
``last_checkpoint`` is fixed inside ``CheckpointHook._save_checkpoint_with_
step`` and ``_save_best_checkpoint``; no argument changes it. The bytes are
still produced by ``Runner.save_checkpoint`` (nothing of its content is
duplicated here): it is handed ``backend_args`` that select the atomic
backend.
"""
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from ltcls.registry import HOOKS
from ltcls.utils.atomic_io import (ATOMIC_BACKEND, atomic_write_bytes,
                                   stale_temp_files)

__all__ = ['AtomicCheckpointHook']


class _DeferredRemovals:
    """A file backend proxy that queues ``remove`` / ``rmtree`` until
    :meth:`apply`; everything else goes to the wrapped backend."""

    def __init__(self, backend):
        self._backend = backend
        self.pending = []

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def remove(self, path):
        self.pending.append(('remove', path))

    def rmtree(self, path):
        self.pending.append(('rmtree', path))

    def apply(self, keep=()):
        for op, path in self.pending:
            if path not in keep:
                getattr(self._backend, op)(path)
        self.pending = []


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with crash-safe saving (see the module
    doc). Same arguments; ``configs/_base_/default_runtime.py`` uses it as
    ``default_hooks.checkpoint``.

    Local folders (``out_dir`` without a ``scheme://``) and no
    ``backend_args`` / ``file_client_args`` get the atomic backend. With a
    remote backend the writes are that backend's (object stores replace an
    object atomically on put); the order of 1-3 above holds for every
    backend.
    """

    def before_train(self, runner) -> None:
        out_dir = self.out_dir if self.out_dir is not None \
            else runner.work_dir
        self._atomic_local = (self.backend_args is None
                              and self.file_client_args is None
                              and '://' not in str(out_dir))
        if self._atomic_local:
            self.backend_args = dict(backend=ATOMIC_BACKEND)
        super().before_train(runner)
        if self._atomic_local and is_main_process():
            for path in stale_temp_files(self.out_dir):
                runner.logger.warning(
                    f'Removing {path}: the temporary file of a checkpoint '
                    'write that did not finish (the process was killed).')
                self.file_backend.remove(path)

    def _remove_checkpoint(self, path) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):
            # checkpoints saved by deepspeed are directories
            self.file_backend.rmtree(path)

    def _save_checkpoint_with_step(self, runner, step, meta):
        # Same bookkeeping as CheckpointHook (keep_ckpt_ids is updated
        # before saving so that the checkpoint knows it is kept), but the
        # outdated checkpoint is only removed at the end.
        outdated = []
        if self.max_keep_ckpts > 0 and not (
                len(self.keep_ckpt_ids) > 0
                and self.keep_ckpt_ids[-1] == step):
            while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        # 1. the checkpoint, complete on disk when this returns
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)

        if not is_main_process():
            return

        # 2. last_checkpoint names it
        atomic_write_bytes(
            str(self.last_ckpt).encode('utf-8'),
            osp.join(runner.work_dir, 'last_checkpoint'))

        # 3. what fell out of max_keep_ckpts
        for old_step in outdated:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(old_step))
            if path != self.last_ckpt:
                self._remove_checkpoint(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        # CheckpointHook removes the previous best checkpoint before
        # writing the new one; queue that removal until all is written.
        backend = self.file_backend
        deferred = _DeferredRemovals(backend)
        self.file_backend = deferred
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        keep = {self.last_ckpt, getattr(self, 'best_ckpt_path', None)}
        keep |= set(getattr(self, 'best_ckpt_path_dict', {}).values())
        deferred.apply(keep=keep)
