# Copyright (c) ltcls contributors. All rights reserved.
"""Hand the train set's per-class counts to losses, heads and metrics.

Balanced Softmax, LDAM, logit adjustment, the post-hoc logit-adjusted head
and ``LongTailAccuracy`` (shot groups) all need ``n_j``, the training images
of class ``j``. They expose ``set_class_counts(counts)``; this hook calls it
with the counts of the train dataset:

- ``before_train``: on every model module that has ``set_class_counts``;
- ``before_val`` / ``before_test``: on the model again and on every metric
  of the val / test evaluator (metrics also get the run's ``log_dir`` for
  their per-class files through ``set_out_dir``).

In ``tools/test.py`` the train dataloader is a config that the runner never
builds; the hook then builds only the train *dataset* from
``train_dataloader.dataset`` (cheap for list / pickle / DigitsLT datasets)
to count its labels. mmpretrain's ``SetAdaptiveMarginsHook`` does the same
for one head only and needs a built train dataloader, hence this hook.
"""
import copy
from typing import Optional, Sequence

import numpy as np
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop
from torch.utils.data import DataLoader

from ltcls.registry import DATASETS, HOOKS

__all__ = ['dataset_class_counts', 'train_class_counts', 'ClassCountsHook']


def _num_classes_of(dataset) -> Optional[int]:
    meta = getattr(dataset, 'metainfo', None) or {}
    classes = meta.get('classes', None)
    return len(classes) if classes is not None else None


def dataset_class_counts(dataset) -> np.ndarray:
    """Per-class image counts of a dataset (int64, shape (C, )).

    Uses ``dataset.class_counts`` when present (``LongTailMixin``), else
    ``bincount(get_gt_labels())`` with ``C = len(metainfo['classes'])``.
    ``ConcatDataset`` sums its parts; ``RepeatDataset`` and
    ``ClassBalancedDataset`` report their underlying dataset (the distinct
    training images, which is what shot groups and priors are about).

    Raises:
        TypeError: if the dataset has neither ``class_counts`` nor
            ``get_gt_labels``.
    """
    counts = getattr(dataset, 'class_counts', None)
    if counts is not None:
        return np.asarray(counts, dtype=np.int64)
    parts = getattr(dataset, 'datasets', None)
    if parts is not None:  # ConcatDataset
        all_counts = [dataset_class_counts(d) for d in parts]
        size = max(len(c) for c in all_counts)
        total = np.zeros(size, dtype=np.int64)
        for c in all_counts:
            total[:len(c)] += c
        return total
    if hasattr(dataset, 'get_gt_labels'):
        labels = np.asarray(dataset.get_gt_labels(), dtype=np.int64)
        n = _num_classes_of(dataset)
        if n is None:
            n = int(labels.max()) + 1 if labels.size else 0
        if labels.size and (labels.min() < 0 or labels.max() >= n):
            raise ValueError(
                f'{type(dataset).__name__} has labels outside [0, {n}) '
                f'(min {labels.min()}, max {labels.max()})')
        return np.bincount(labels, minlength=n).astype(np.int64)
    inner = getattr(dataset, 'dataset', None)
    if inner is not None:  # RepeatDataset / ClassBalancedDataset / Subset
        return dataset_class_counts(inner)
    raise TypeError(
        f'cannot count the classes of {type(dataset).__name__}: it has '
        'neither `class_counts` nor `get_gt_labels()`')


def train_class_counts(runner) -> np.ndarray:
    """Per-class counts of ``runner``'s train dataset.

    Works whether the train loop is built (training) or not
    (``tools/test.py``: the train dataset is built from the config).

    Raises:
        RuntimeError: if the runner has no train dataloader (config).
    """
    loop = getattr(runner, '_train_loop', None)
    if isinstance(loop, BaseLoop):
        return dataset_class_counts(loop.dataloader.dataset)
    dataloader = getattr(runner, '_train_dataloader', None)
    if dataloader is None:
        dataloader = runner.cfg.get('train_dataloader', None)
    if dataloader is None:
        raise RuntimeError(
            'ClassCountsHook needs the train set to count the images per '
            'class, but the config has no train_dataloader. Add one (it is '
            'not iterated in tools/test.py, only its dataset is built), or '
            'give the counts explicitly: '
            "dict(type='ClassCountsHook', class_counts=[...]).")
    if isinstance(dataloader, DataLoader):
        return dataset_class_counts(dataloader.dataset)
    dataset = dataloader['dataset']
    if isinstance(dataset, dict):
        dataset = DATASETS.build(copy.deepcopy(dataset))
    return dataset_class_counts(dataset)


@HOOKS.register_module()
class ClassCountsHook(Hook):
    """Call ``set_class_counts`` on modules and metrics that need ``n_j``.

    Args:
        class_counts (Sequence[int], optional): Use these counts instead of
            counting the train set (e.g. to evaluate a checkpoint without its
            train data). Defaults to None.

    Example:
        >>> custom_hooks = [dict(type='ClassCountsHook')]
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self, class_counts: Optional[Sequence[int]] = None):
        self.class_counts = None
        if class_counts is not None:
            counts = np.asarray(class_counts)
            if counts.ndim != 1 or counts.size == 0 or (counts < 0).any():
                raise ValueError('ClassCountsHook: class_counts must be a '
                                 'non-empty 1-D sequence of counts >= 0, '
                                 f'got {class_counts}')
            self.class_counts = counts.astype(np.int64)
        self._logged = False

    def get_class_counts(self, runner) -> np.ndarray:
        if self.class_counts is None:
            self.class_counts = train_class_counts(runner)
        return self.class_counts

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(
            runner.model) else runner.model

    def _set_on_model(self, runner) -> None:
        targets = [(name, m)
                   for name, m in self._model(runner).named_modules()
                   if callable(getattr(m, 'set_class_counts', None))]
        if not targets:
            return
        counts = self.get_class_counts(runner)
        for _, module in targets:
            module.set_class_counts(counts)
        if not self._logged:
            self._logged = True
            names = ', '.join(n or type(m).__name__ for n, m in targets)
            runner.logger.info(
                f'ClassCountsHook: {len(counts)} classes, {counts.sum()} '
                f'train images (max {counts.max()}, min {counts.min()}); '
                f'set on {names}')

    def _set_on_metrics(self, runner, evaluator, tag: str) -> None:
        for metric in getattr(evaluator, 'metrics', []):
            if callable(getattr(metric, 'set_class_counts', None)):
                metric.set_class_counts(self.get_class_counts(runner))
            if callable(getattr(metric, 'set_out_dir', None)):
                metric.set_out_dir(runner.log_dir, tag)

    def before_train(self, runner) -> None:
        self._set_on_model(runner)

    def before_val(self, runner) -> None:
        self._set_on_model(runner)
        self._set_on_metrics(runner, runner.val_evaluator, 'val')

    def before_test(self, runner) -> None:
        self._set_on_model(runner)
        self._set_on_metrics(runner, runner.test_evaluator, 'test')
