# Copyright (c) ltcls contributors. All rights reserved.
"""Precise-BN for the detection transfer protocol (MoCo / KCL / SBCL).

The MoCo detection recipe the papers copy (``Base-RCNN-C4-BN.yaml``:
``TEST.PRECISE_BN.ENABLED: True``, Detectron2 defaults ``NUM_ITER: 200``,
``EVAL_PERIOD: 0``) recomputes the BN statistics of the fine-tuned detector
once, after the last training iteration and before the final evaluation,
by averaging per-batch statistics over 200 training batches of 16 images
(fvcore's ``update_bn_stats`` on the training forward).

mmpretrain's ``PreciseBNHook`` is the same algorithm but does not fit
detection:

* it iterates the training dataloader itself. mmdet's
  ``AspectRatioBatchSampler`` keeps its buckets on the instance, and the
  training iterator is suspended right after yielding a full bucket, so a
  second iterator keeps appending to that bucket and, over an
  ``InfiniteSampler``, never yields (an endless loop); with it the batch
  size is also ``loader.batch_size = None``. Like Detectron2 (which builds
  a fresh train loader for Precise BN), this hook iterates a separate
  loader over the same training dataset;
* it calls the model in ``'tensor'`` mode: for a two-stage detector the RoI
  head then sees test-time proposals, not the sampled training RoIs of
  Detectron2's training forward;
* it can only run every ``interval`` iterations, not "at the end".

This hook keeps mmpretrain's statistics code (``scaled_all_reduce``) and
fixes those points.

Use from an mmdet-scope config::

    custom_imports = dict(imports=['ltcls.engine.hooks'],
                          allow_failed_imports=False)
    custom_hooks = [dict(type='DetPreciseBNHook', _scope_='ltcls',
                         num_samples=3200)]
"""
import itertools
import logging
from typing import Optional, Sequence

import torch
from mmengine.dataset import DefaultSampler
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from mmpretrain.engine.hooks.precise_bn_hook import scaled_all_reduce
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader

from ltcls.registry import HOOKS

__all__ = [
    'DetPreciseBNHook', 'update_bn_stats_loss_mode', 'precise_bn_loader'
]


def _loader_batch_size(loader) -> int:
    """Per-process batch size of a DataLoader, also with a batch sampler."""
    batch_size = getattr(loader, 'batch_size', None)
    if batch_size is None:
        batch_size = getattr(
            getattr(loader, 'batch_sampler', None), 'batch_size', None)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError('cannot tell the batch size of the train '
                         f'dataloader {type(loader).__name__}: neither it nor '
                         'its batch_sampler has an integer batch_size')
    return batch_size


def precise_bn_loader(train_loader, seed: Optional[int] = None) -> DataLoader:
    """A fresh loader over the training dataset of ``train_loader``.

    Same dataset (and so the same training pipeline), batch size, collate
    function and workers; its own ``DefaultSampler(shuffle=True)`` (rank
    slicing included) and no batch sampler, so iterating it leaves the
    training iterator and its sampler state untouched.
    """
    sampler = DefaultSampler(train_loader.dataset, shuffle=True, seed=seed)
    return DataLoader(
        train_loader.dataset,
        batch_size=_loader_batch_size(train_loader),
        sampler=sampler,
        num_workers=train_loader.num_workers,
        collate_fn=train_loader.collate_fn,
        drop_last=False)


@torch.no_grad()
def update_bn_stats_loss_mode(model: nn.Module,
                              loader,
                              num_samples: int,
                              logger=None) -> int:
    """Replace the running statistics of every BN layer in training mode
    by the average of per-batch statistics over training batches.

    Each batch goes through ``model.data_preprocessor(data, True)`` and
    ``model(**data, mode='loss')`` (the training forward, as fvcore's
    ``update_bn_stats`` on Detectron2's training model); losses are
    discarded. For each BN layer the result is ``mean_b mu_b`` and
    ``mean_b var_b`` over the batches b (momentum 1.0 while collecting),
    then averaged over ranks.

    Args:
        model (nn.Module): The detector (may be wrapped in DDP).
        loader (DataLoader): Training batches, e.g. from
            :func:`precise_bn_loader` (not the loader the train loop is
            iterating).
        num_samples (int): Images to use in total over all ranks; the
            number of batches is ``num_samples // (batch_size * world)``
            (at least 1, at most ``len(loader)``).
        logger: Passed to ``print_log``.

    Returns:
        int: The number of batches used (0 if the model has no BN layer in
        training mode).
    """
    if is_model_wrapper(model):
        model = model.module
    _, world_size = get_dist_info()
    batch_size = _loader_batch_size(loader)
    num_iter = max(1, num_samples // (batch_size * world_size))
    try:
        num_iter = min(num_iter, len(loader))
    except TypeError:  # a loader without __len__
        pass

    bn_layers = [
        m for m in model.modules() if m.training and isinstance(m, _BatchNorm)
    ]
    if not bn_layers:
        print_log('Precise BN: no BN layer in training mode, nothing to do',
                  logger=logger, level=logging.WARNING)
        return 0
    print_log(f'Precise BN: {len(bn_layers)} BN layers, {num_iter} batches '
              f'of {batch_size} x {world_size} images', logger=logger)

    running_means = [torch.zeros_like(bn.running_mean) for bn in bn_layers]
    running_vars = [torch.zeros_like(bn.running_var) for bn in bn_layers]
    momentums = [bn.momentum for bn in bn_layers]
    for bn in bn_layers:
        bn.momentum = 1.0
    used = 0
    try:
        for data in itertools.islice(loader, num_iter):
            data = model.data_preprocessor(data, True)
            model(**data, mode='loss')
            for i, bn in enumerate(bn_layers):
                running_means[i] += bn.running_mean
                running_vars[i] += bn.running_var
            used += 1
    finally:
        for bn, momentum in zip(bn_layers, momentums):
            bn.momentum = momentum
    if used == 0:
        raise RuntimeError('Precise BN: the train dataloader yielded no batch')
    running_means = [m / used for m in running_means]
    running_vars = [v / used for v in running_vars]
    running_means = scaled_all_reduce(running_means, world_size)
    running_vars = scaled_all_reduce(running_vars, world_size)
    for bn, mean, var in zip(bn_layers, running_means, running_vars):
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
    return used


@HOOKS.register_module()
class DetPreciseBNHook(Hook):
    """Recompute BN statistics of a detector on training data (Precise BN).

    Runs after the last training iteration (``IterBasedTrainLoop``) or epoch
    (``EpochBasedTrainLoop``), before the final evaluation and before the
    last checkpoint is written (priority ``ABOVE_NORMAL``), and optionally
    every ``interval`` iterations / epochs as well.

    Args:
        num_samples (int): Training images used over all ranks. Defaults to
            3200 = Detectron2's ``NUM_ITER`` 200 x 16 images per batch.
        interval (int, optional): Also run every ``interval`` iterations
            (iteration-based loop) or epochs (epoch-based loop). Defaults to
            None: only at the end (Detectron2 with ``EVAL_PERIOD: 0``).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 num_samples: int = 3200,
                 interval: Optional[int] = None) -> None:
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(
                f'num_samples must be a positive int, got {num_samples!r}')
        if interval is not None and (not isinstance(interval, int)
                                     or interval < 1):
            raise ValueError(
                f'interval must be None or a positive int, got {interval!r}')
        self.num_samples = num_samples
        self.interval = interval
        self.num_runs = 0

    def _run(self, runner) -> None:
        loader = precise_bn_loader(runner.train_loop.dataloader, runner.seed)
        used = update_bn_stats_loss_mode(
            runner.model, loader, self.num_samples, logger=runner.logger)
        if used:
            self.num_runs += 1
            print_log('Precise BN: BN statistics updated', logger=runner.logger)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[Sequence[dict]] = None,
                         outputs: Optional[dict] = None) -> None:
        if not isinstance(runner.train_loop, IterBasedTrainLoop):
            return
        last = runner.iter + 1 == runner.max_iters
        periodic = self.interval is not None and self.every_n_train_iters(
            runner, self.interval)
        if last or periodic:
            self._run(runner)

    def after_train_epoch(self, runner) -> None:
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            return
        last = runner.epoch + 1 == runner.max_epochs
        periodic = self.interval is not None and self.every_n_epochs(
            runner, self.interval)
        if last or periodic:
            self._run(runner)
