# Copyright (c) ltcls contributors. All rights reserved.
"""Exact resume of epoch-based training: RNG states in the checkpoints,
per-epoch seeding, and mid-epoch resume at the next batch.

Why mmengine's ``EpochBasedTrainLoop`` (with its ``CheckpointHook``) is not
enough:

* the RNGs are seeded once, when the ``Runner`` is built, and are not in the
  checkpoints: what a resumed run draws depends on everything that drew
  random numbers before the checkpoint and after it (a validation
  dataloader draws a worker seed from torch's global RNG, for instance), so
  the augmentation of a resumed run differs from the uninterrupted run's;
* resumed from an iteration checkpoint written inside epoch e, the loop runs
  epoch e again from its first batch: the run trains more iterations than
  its schedule (27 instead of 22 on DigitsLT) and sees the first batches of
  that epoch twice;
* its default ``worker_init_fn`` seeds every dataloader worker with the same
  seed in every epoch (``seed + rank * num_workers + worker_id``).

The loop itself is kept (configs keep ``train_cfg = dict(by_epoch=True,
...)``; mmengine refuses a loop ``type`` next to ``by_epoch``); this hook,
in ``default_runtime.py``'s ``default_hooks``, changes what it iterates:

* **per-epoch seeding**: at the start of every epoch (first of the
  ``before_train_epoch`` hooks) python ``random``, numpy and torch are
  reseeded from ``(runner.seed, epoch)`` (``runner.seed`` includes the rank
  with ``randomness.diff_rank_seed``), and the train dataloader gets its
  own ``torch.Generator`` seeded the same way (so creating its iterator no
  longer draws from torch's global RNG). The randomness of an epoch is then
  a function of the seed and the epoch only: a resume at an epoch boundary
  is exact whatever ran in between (validation, other hooks);
* **worker seeds**: mmengine's default ``worker_init_fn`` is replaced by
  one that seeds each worker from torch's per-worker seed (which comes from
  the per-epoch generator), the worker id and the rank;
* **RNG states in checkpoints**: every rank's states (python, numpy, torch
  CPU and CUDA) as plain tensors (``checkpoint['rng_state']``, see
  :mod:`ltcls.utils.rng_state`), so checkpoints still load with
  ``weights_only=True``. ``Runner.save_checkpoint`` runs on rank 0 only, so
  with several ranks the states are gathered (a collective) right before
  the runner's ``CheckpointHook`` writes, under the same conditions;
* **mid-epoch resume**: resumed at iteration i inside epoch e, the sampler
  of the first epoch skips the indices of the ``i - e * len(dataloader)``
  batches already trained on (only indices: no image is loaded), and the
  rank's saved RNG states are restored, so training continues with the
  next batch of the same epoch order and the same random draws, and
  ``runner.iter`` ends at ``max_epochs * len(dataloader)``. Hooks that do
  per-epoch work whose result is in the checkpoint can read
  ``runner.message_hub.get_info('resumed_batches')`` (> 0 in such an epoch;
  see ``SubclassClusteringHook``). In that epoch mmengine's ``batch_idx``
  (logs) counts from 0.

Limits: with ``num_workers > 0`` the rest of a mid-epoch-resumed epoch gets
other augmentation draws than the uninterrupted run (the workers' RNG
streams live in the worker processes); epoch-boundary resumes stay exact
with ``persistent_workers=False`` (persistent workers keep their streams
across epochs). Mid-epoch resume needs torch's ``BatchSampler`` (what
``DataLoader(batch_size=...)`` builds); another batch sampler is a clear
error.

Args:
    reseed_every_epoch (bool): Reseed at every epoch start (see above).
        Defaults to True.
"""
from functools import partial
from itertools import islice
from typing import Dict, Optional

import torch
from mmengine.dataset.utils import worker_init_fn as mmengine_worker_init_fn
from mmengine.dist import get_dist_info
from mmengine.hooks import CheckpointHook, Hook
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import BatchSampler

from ltcls.registry import HOOKS
from ltcls.utils.rng_state import (derive_seed, gather_rng_states,
                                   get_rng_state, rank_rng_state, seed_all,
                                   set_rng_state, stack_rng_states)

__all__ = ['ExactResumeHook', 'SkipFirstSampler', 'rank_worker_init_fn']


class SkipFirstSampler:
    """Wraps a sampler: ``__iter__`` skips its first ``skip`` indices.
    ``__len__`` stays the full epoch length, so ``len(dataloader)`` (and
    with it ``max_iters``) stays the schedule's."""

    def __init__(self, sampler, skip: int) -> None:
        self.sampler = sampler
        self.skip = int(skip)

    def __iter__(self):
        return islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return len(self.sampler)


def rank_worker_init_fn(worker_id: int, rank: int) -> None:
    """Seed a dataloader worker from torch's per-worker seed (drawn by torch
    from the dataloader's generator, which :class:`ExactResumeHook` reseeds
    every epoch), the worker id and the rank."""
    seed_all(derive_seed(torch.initial_seed(), worker_id, rank))


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """See the module doc."""

    priority = 'HIGHEST'

    def __init__(self, reseed_every_epoch: bool = True) -> None:
        self.reseed_every_epoch = bool(reseed_every_epoch)
        self._resume_state: Optional[Dict[str, torch.Tensor]] = None
        self._gathered = None
        self._gathered_at: Optional[int] = None
        self._undo_skip = None

    # ------------------------------------------------------------ seeding
    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        init_fn = getattr(loader, 'worker_init_fn', None)
        if isinstance(init_fn, partial) and \
                init_fn.func is mmengine_worker_init_fn:
            loader.worker_init_fn = partial(
                rank_worker_init_fn, rank=get_dist_info()[0])

    def before_train_epoch(self, runner) -> None:
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            return  # iteration-based loops: mmengine's own resume
        loader = runner.train_dataloader
        epoch = runner.epoch
        if self.reseed_every_epoch:
            seed_all(derive_seed(runner.seed, epoch))
            loader.generator = torch.Generator().manual_seed(
                derive_seed(runner.seed, epoch, 1))
        consumed = runner.iter - epoch * len(loader)
        if not 0 <= consumed <= len(loader):
            raise RuntimeError(
                f'cannot resume at iteration {runner.iter} of epoch '
                f'{epoch + 1}: with {len(loader)} batches per epoch it must '
                f'lie in [{epoch * len(loader)}, {(epoch + 1) * len(loader)}'
                ']; was the checkpoint written with another batch size, '
                'dataset or number of GPUs?')
        runner.message_hub.update_info('resumed_batches', consumed)
        if consumed:
            self._skip(loader, consumed)
            if self._resume_state is not None:
                set_rng_state(self._resume_state)
        self._resume_state = None

    def _skip(self, loader, num_batches: int) -> None:
        batch_sampler = loader.batch_sampler
        if type(batch_sampler) is not BatchSampler:
            raise TypeError(
                'resuming inside an epoch needs torch\'s BatchSampler (the '
                'one DataLoader(batch_size=...) builds), got '
                f'{type(batch_sampler).__name__}; resume from an epoch '
                'checkpoint instead')
        sampler = batch_sampler.sampler
        batch_sampler.sampler = SkipFirstSampler(
            sampler, num_batches * batch_sampler.batch_size)

        def undo():
            batch_sampler.sampler = sampler

        self._undo_skip = undo

    def after_train_epoch(self, runner) -> None:
        if self._undo_skip is not None:
            self._undo_skip()
            self._undo_skip = None
        runner.message_hub.update_info('resumed_batches', 0)
        self._gather_if_saving(runner, by_epoch=True)

    # ------------------------------------------------------- checkpoints
    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self._gather_if_saving(runner, by_epoch=False)

    def _gather_if_saving(self, runner, by_epoch: bool) -> None:
        """With several ranks: gather every rank's states if a
        ``CheckpointHook`` is about to save (its own conditions)."""
        if get_dist_info()[1] == 1:
            return
        for h in runner.hooks:
            if not isinstance(h, CheckpointHook) or h.by_epoch != by_epoch:
                continue
            if by_epoch:
                due = h.every_n_epochs(runner, h.interval, h.save_begin) or (
                    h.save_last and h.is_last_train_epoch(runner))
            else:
                due = h.every_n_train_iters(
                    runner, h.interval, h.save_begin) or (
                        h.save_last and h.is_last_train_iter(runner))
            if due:
                self._gathered = gather_rng_states()
                self._gathered_at = runner.iter
                return

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if get_dist_info()[1] == 1:
            checkpoint['rng_state'] = stack_rng_states([get_rng_state()])
        elif self._gathered is not None and self._gathered_at == runner.iter:
            checkpoint['rng_state'] = self._gathered
        else:
            runner.logger.warning(
                'ExactResumeHook: this checkpoint was not written by the '
                'CheckpointHook, so the RNG states of the other ranks were '
                'not gathered; it holds none (a resume from it inside an '
                'epoch is not exact)')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        stacked = checkpoint.get('rng_state', None)
        # only a resume continues the saved randomness (``load_from``
        # without ``resume`` starts a new run)
        if stacked is None or not getattr(runner, '_resume', False):
            return
        rank, world_size = get_dist_info()
        saved = stacked['torch'].shape[0]
        if saved != world_size:
            runner.logger.warning(
                f'ExactResumeHook: the checkpoint holds the RNG states of '
                f'{saved} ranks, this run has {world_size}; the resumed '
                'randomness differs from the uninterrupted run')
        self._resume_state = rank_rng_state(stacked, rank)
