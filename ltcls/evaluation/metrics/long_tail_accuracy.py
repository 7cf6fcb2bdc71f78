# Copyright (c) ltcls contributors. All rights reserved.
"""Top-k and many / medium / few-shot accuracy of long-tailed benchmarks.

Shot groups follow the training images per class ``n_j`` (Liu et al. 2019,
OLTR; Kang et al. 2020): many-shot ``n_j > 100``, few-shot ``n_j < 20``,
medium-shot otherwise (spec_kcl.md section 9.12: the KCL code uses
``n_j <= 20`` for few-shot; set ``few_inclusive=True`` to reproduce it).
A group's accuracy is the mean of the per-class top-1 accuracies of its
classes (on ImageNet-LT's balanced test set this equals the sample mean).

The counts come from the train set automatically through
``ClassCountsHook``, which also gives the metric the run's ``log_dir``: the
per-class accuracies are written there as ``per_class_accuracy_<val|test>``
``.json`` and ``.csv`` (rank 0, after results from all ranks are gathered
by mmengine's ``BaseMetric``).
"""
import csv
import json
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from ltcls.registry import METRICS

__all__ = [
    'shot_groups', 'per_class_correct', 'long_tail_accuracy',
    'LongTailAccuracy', 'shot_args_from_config'
]

SHOTS = ('many', 'medium', 'few')


def _check_thresholds(many_thr, few_thr) -> None:
    for name, v in (('many_thr', many_thr), ('few_thr', few_thr)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ValueError(f'{name} must be a number >= 0, got {v!r}')
    if few_thr > many_thr:
        raise ValueError(f'few_thr={few_thr} must be <= many_thr={many_thr}')


def shot_groups(class_counts: Sequence[int],
                many_thr: float = 100,
                few_thr: float = 20,
                few_inclusive: bool = False) -> np.ndarray:
    """Shot group of each class from its training images ``n_j``.

    Args:
        class_counts (Sequence[int]): (C, ) training images per class.
        many_thr (float): many-shot if ``n_j > many_thr``. Defaults to 100.
        few_thr (float): few-shot if ``n_j < few_thr`` (``<=`` with
            ``few_inclusive``). Defaults to 20.
        few_inclusive (bool): Defaults to False.

    Returns:
        np.ndarray: (C, ) of ``'many'``, ``'medium'``, ``'few'``.
    """
    _check_thresholds(many_thr, few_thr)
    n = np.asarray(class_counts)
    if n.ndim != 1:
        raise ValueError(f'class_counts must be 1-D, got shape {n.shape}')
    few = n <= few_thr if few_inclusive else n < few_thr
    groups = np.full(n.shape, 'medium', dtype=object)
    groups[n > many_thr] = 'many'
    groups[few] = 'few'
    return groups


def per_class_correct(topk_pred: torch.Tensor,
                      gt_label: torch.Tensor,
                      num_classes: int,
                      k: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """Correct top-k predictions and samples per class.

    Args:
        topk_pred (Tensor): (N, K) class indices by decreasing score,
            ``K >= k``.
        gt_label (Tensor): (N, ) ground-truth classes.
        num_classes (int): C.
        k (int): Defaults to 1.

    Returns:
        tuple[np.ndarray, np.ndarray]: (C, ) correct counts and (C, ) sample
        counts (int64).
    """
    gt = gt_label.long().view(-1)
    hit = (topk_pred[:, :k].long() == gt[:, None]).any(dim=1)
    total = torch.bincount(gt, minlength=num_classes)
    correct = torch.bincount(gt[hit], minlength=num_classes)
    return correct.numpy(), total.numpy()


def long_tail_accuracy(
    topk_pred: torch.Tensor,
    gt_label: torch.Tensor,
    class_counts: Sequence[int],
    topk: Sequence[int] = (1, 5),
    many_thr: float = 100,
    few_thr: float = 20,
    few_inclusive: bool = False
) -> Tuple[Dict[str, float], Dict[str, np.ndarray]]:
    """Overall top-k and shot-group accuracies, in percent.

    Args:
        topk_pred (Tensor): (N, K) class indices by decreasing score,
            ``K >= max(topk)``.
        gt_label (Tensor): (N, ) ground-truth classes in [0, C).
        class_counts (Sequence[int]): (C, ) training images per class.
        topk (Sequence[int]): Overall top-k accuracies to report.
        many_thr, few_thr, few_inclusive: See :func:`shot_groups`.

    Returns:
        tuple: ``metrics`` with ``top{k}`` (sample accuracy), ``many``,
        ``medium``, ``few`` and ``class_mean`` (means of per-class top-1
        accuracies; NaN for a group without evaluated classes), and
        ``per_class`` with (C, ) arrays ``test_count``, ``top{k}``
        (per-class accuracy, NaN for classes absent from the test set) and
        ``shot``.
    """
    counts = np.asarray(class_counts)
    num_classes = counts.size
    gt = gt_label.long().view(-1)
    if gt.numel() == 0:
        raise ValueError('long_tail_accuracy: no test samples')
    if int(gt.min()) < 0 or int(gt.max()) >= num_classes:
        raise ValueError(
            f'long_tail_accuracy: ground-truth labels must be in [0, '
            f'{num_classes}) (len(class_counts)), got min {int(gt.min())} '
            f'max {int(gt.max())}')
    for k in topk:
        if k > num_classes:
            raise ValueError(f'topk={tuple(topk)}: top-{k} accuracy needs at '
                             f'least {k} classes, the model has {num_classes}')
        if k > topk_pred.size(1):
            raise ValueError(f'top-{k} accuracy needs {k} ranked predictions '
                             f'per sample, got {topk_pred.size(1)}')
    groups = shot_groups(counts, many_thr, few_thr, few_inclusive)
    metrics: Dict[str, float] = {}
    per_class: Dict[str, np.ndarray] = {'shot': groups}
    for k in sorted(set(topk) | {1}):
        correct, total = per_class_correct(topk_pred, gt, num_classes, k)
        with np.errstate(invalid='ignore', divide='ignore'):
            acc = np.where(total > 0, 100.0 * correct / np.maximum(total, 1),
                           np.nan)
        per_class[f'top{k}'] = acc
        per_class['test_count'] = total
        if k in topk:
            metrics[f'top{k}'] = 100.0 * float(correct.sum()) / gt.numel()
    acc1 = per_class['top1']
    evaluated = per_class['test_count'] > 0
    for shot in SHOTS:
        sel = (groups == shot) & evaluated
        metrics[shot] = float(acc1[sel].mean()) if sel.any() else float('nan')
    metrics['class_mean'] = float(acc1[evaluated].mean())
    return metrics, per_class


@METRICS.register_module()
class LongTailAccuracy(BaseMetric):
    """Top-k plus many / medium / few-shot accuracy of long-tailed tasks.

    Args:
        topk (int | Sequence[int]): Overall top-k accuracies.
            Defaults to ``(1, 5)``.
        many_thr (float): Many-shot: ``n_j > many_thr``. Defaults to 100.
        few_thr (float): Few-shot: ``n_j < few_thr``. Defaults to 20.
        few_inclusive (bool): Few-shot is ``n_j <= few_thr`` instead (KCL
            code). Defaults to False.
        class_counts (Sequence[int], optional): Training images per class.
            Defaults to None: ``ClassCountsHook`` sets them from the train
            set before every evaluation.
        out_dir (str, optional): Where to write the per-class files.
            Defaults to None: ``ClassCountsHook`` sets the run's log dir.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to 'cpu'.
        prefix (str, optional): Defaults to ``'accuracy'``, so the keys are
            ``accuracy/top1``, ``accuracy/top5``, ``accuracy/many``,
            ``accuracy/medium``, ``accuracy/few``, ``accuracy/class_mean``.

    Example:
        >>> val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
        >>> custom_hooks = [dict(type='ClassCountsHook')]
    """
    default_prefix: Optional[str] = 'accuracy'

    def __init__(self,
                 topk: Union[int, Sequence[int]] = (1, 5),
                 many_thr: float = 100,
                 few_thr: float = 20,
                 few_inclusive: bool = False,
                 class_counts: Optional[Sequence[int]] = None,
                 out_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        if not self.topk or any(
                isinstance(k, bool) or not isinstance(k, int) or k < 1
                for k in self.topk):
            raise ValueError(f'topk must be positive ints, got {topk!r}')
        _check_thresholds(many_thr, few_thr)
        self.many_thr = many_thr
        self.few_thr = few_thr
        self.few_inclusive = bool(few_inclusive)
        self.class_counts = None
        if class_counts is not None:
            self.set_class_counts(class_counts)
        self.out_dir = out_dir
        self.out_tag = 'test'
        self._warned_no_dir = False

    # ---- set by ClassCountsHook -----------------------------------------
    def set_class_counts(self, class_counts: Sequence[int]) -> None:
        counts = np.asarray(class_counts)
        if counts.ndim != 1 or counts.size == 0 or (counts < 0).any():
            raise ValueError('LongTailAccuracy: class_counts must be a '
                             'non-empty 1-D sequence of counts >= 0, got '
                             f'{class_counts}')
        self.class_counts = counts.astype(np.int64)

    def set_out_dir(self, out_dir: Optional[str], tag: str = 'test') -> None:
        self.out_dir = out_dir
        self.out_tag = tag

    # ---- BaseMetric -----------------------------------------------------
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep the ``max(topk)`` best class indices and the label of every
        sample (not the full score vector: 8,142 iNat classes x 24k images
        would not fit the collection step)."""
        maxk = max(self.topk)
        for ds in data_samples:
            if 'pred_score' in ds:
                score = ds['pred_score']
                if score.numel() < maxk:
                    raise ValueError(
                        f'LongTailAccuracy(topk={self.topk}) needs at least '
                        f'{maxk} classes, the scores have {score.numel()}')
                pred = score.topk(maxk).indices.cpu()
            else:
                if maxk > 1:
                    raise ValueError(
                        'LongTailAccuracy: top-k with k > 1 needs '
                        '`pred_score`; the model only gave `pred_label`')
                pred = ds['pred_label'].view(-1)[:1].cpu()
            self.results.append(
                dict(pred=pred.long(), gt=ds['gt_label'].view(-1)[:1].cpu()))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        if self.class_counts is None:
            raise RuntimeError(
                'LongTailAccuracy has no train class counts for the shot '
                "groups: add dict(type='ClassCountsHook') to custom_hooks "
                '(it reads them from train_dataloader.dataset) or pass '
                'class_counts=[...] to the metric.')
        classes = (self.dataset_meta or {}).get('classes', None)
        if classes is not None and len(classes) != len(self.class_counts):
            raise ValueError(
                f'LongTailAccuracy: the evaluated dataset has {len(classes)} '
                f'classes but the train class counts have '
                f'{len(self.class_counts)}')
        topk_pred = torch.stack([r['pred'] for r in results])
        gt = torch.cat([r['gt'] for r in results])
        metrics, per_class = long_tail_accuracy(topk_pred, gt,
                                                self.class_counts, self.topk,
                                                self.many_thr, self.few_thr,
                                                self.few_inclusive)
        missing = int((per_class['test_count'] == 0).sum())
        if missing:
            print_log(
                f'LongTailAccuracy: {missing} classes have no test samples; '
                'they are left out of the group and class means',
                logger='current',
                level=logging.WARNING)
        for shot in SHOTS:
            if metrics[shot] != metrics[shot]:
                print_log(
                    f'LongTailAccuracy: no evaluated class is {shot}-shot '
                    f'with many_thr={self.many_thr}, few_thr={self.few_thr}; '
                    f'{shot} accuracy is NaN',
                    logger='current',
                    level=logging.WARNING)
        self._dump(metrics, per_class, classes)
        return metrics

    def _dump(self, metrics, per_class, classes) -> None:
        if self.out_dir is None:
            if not self._warned_no_dir:
                self._warned_no_dir = True
                print_log(
                    'LongTailAccuracy: no out_dir (set by ClassCountsHook or '
                    'the out_dir argument); per-class accuracies are not '
                    'written',
                    logger='current',
                    level=logging.WARNING)
            return
        os.makedirs(self.out_dir, exist_ok=True)
        ks = sorted(k for k in per_class if k.startswith('top'))
        rows = []
        for j, n in enumerate(self.class_counts):
            row = dict(
                class_index=j,
                class_name=str(classes[j]) if classes is not None else str(j),
                train_count=int(n),
                shot=str(per_class['shot'][j]),
                test_count=int(per_class['test_count'][j]))
            for k in ks:
                v = float(per_class[k][j])
                row[f'{k}_acc'] = None if v != v else v
            rows.append(row)
        stem = osp.join(self.out_dir,
                        f'per_class_{self.prefix or "metric"}_{self.out_tag}')
        with open(stem + '.json', 'w') as f:
            json.dump(
                dict(
                    metrics={
                        k: (None if v != v else v)
                        for k, v in metrics.items()
                    },
                    thresholds=dict(
                        many_thr=self.many_thr,
                        few_thr=self.few_thr,
                        few_inclusive=self.few_inclusive),
                    classes=rows),
                f,
                indent=1)
        with open(stem + '.csv', 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print_log(
            f'LongTailAccuracy: per-class accuracies written to '
            f'{stem}.json/.csv',
            logger='current')


def shot_args_from_config(cfg, splits: Sequence[str] = ('test', 'val')
                          ) -> dict:
    """``many_thr`` / ``few_thr`` / ``few_inclusive`` of the first
    ``LongTailAccuracy`` in ``cfg``'s ``<split>_evaluator`` for ``split`` in
    ``splits`` (in that order); ``{}`` (the metric's defaults) if none.

    The analysis tools use it so that their shot groups are the ones the
    config evaluates with.
    """
    for split in splits:
        evaluator = cfg.get(f'{split}_evaluator', None) or []
        if isinstance(evaluator, dict):
            evaluator = evaluator.get('metrics', [evaluator])
        for metric in evaluator:
            if metric.get('type') == 'LongTailAccuracy':
                return {
                    k: metric[k]
                    for k in ('many_thr', 'few_thr', 'few_inclusive')
                    if k in metric
                }
    return {}
