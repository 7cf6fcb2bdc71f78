# Copyright (c) ltcls contributors. All rights reserved.
"""Balancedness of a feature space (Kang et al., "Exploring Balanced Feature
Spaces for Representation Learning", ICLR 2021, Eq. 3).

With ``a_j`` the top-1 accuracy of class ``j`` (a fraction in [0, 1]) of a
classifier on the features,

.. math::

    \\beta = \\frac{1}{C^2} \\sum_{i=1}^{C} \\sum_{j=1}^{C}
             \\exp\\left(-\\frac{|a_i - a_j|}{\\sigma}\\right),

averaged over all ordered pairs including ``i = j``; ``beta = 1`` iff every
class is equally accurate, and it decreases as the per-class accuracies
spread.

**sigma decision** (spec_kcl.md sections 2.6 and 9.6): the paper calls sigma
"a fixed scaling parameter" and gives no value, neither does the authors'
code. ``sigma`` is therefore a required argument without default, the
accuracies are fractions (not percent), and the value is reported next to
beta (key ``balancedness/sigma``). Absolute beta values are comparable only
at equal sigma and cannot be compared with the paper's figures. The paper
measures beta with a linear probe trained on full (balanced) ImageNet and
evaluated on ImageNet val; this metric only computes beta from the
predictions of whatever classifier is evaluated.
"""
import logging
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from ltcls.registry import METRICS
from .long_tail_accuracy import per_class_correct

__all__ = ['balancedness', 'Balancedness']


def _check_sigma(sigma) -> float:
    if isinstance(sigma, bool):
        raise TypeError(f'sigma must be a number > 0, got {sigma!r}')
    try:
        sigma = float(sigma)
    except (TypeError, ValueError):
        raise TypeError(f'sigma must be a number > 0, got {sigma!r}') from None
    if not 0 < sigma < float('inf'):
        raise ValueError(f'sigma must be finite and > 0, got {sigma}')
    return sigma


def balancedness(class_acc: Sequence[float], sigma: float) -> float:
    """``mean_{i,j} exp(-|a_i - a_j| / sigma)``.

    Args:
        class_acc (Sequence[float]): (C, ) per-class accuracies in [0, 1].
        sigma (float): Scale, > 0.

    Returns:
        float: beta in (0, 1].
    """
    sigma = _check_sigma(sigma)
    a = np.asarray(class_acc, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError('balancedness: class_acc must be a non-empty 1-D '
                         f'sequence, got shape {a.shape}')
    if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1:
        raise ValueError('balancedness: accuracies must be fractions in '
                         f'[0, 1], got min {a.min()} max {a.max()}')
    return float(np.exp(-np.abs(a[:, None] - a[None, :]) / sigma).mean())


@METRICS.register_module()
class Balancedness(BaseMetric):
    """Balancedness ``beta`` of the per-class top-1 accuracies.

    Args:
        sigma (float): Required scale of ``|a_i - a_j|`` (accuracies are
            fractions in [0, 1]); see the module docstring.
        num_classes (int, optional): C. Defaults to None: the number of
            classes of the evaluated dataset (``dataset_meta``).
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to 'cpu'.
        prefix (str, optional): Defaults to ``'balancedness'``: keys
            ``balancedness/beta`` and ``balancedness/sigma``.

    Classes without test samples have no accuracy; they are left out (with
    a warning) and ``C`` is the number of evaluated classes.
    """
    default_prefix: Optional[str] = 'balancedness'

    def __init__(self,
                 sigma: float,
                 num_classes: Optional[int] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.sigma = _check_sigma(sigma)
        if num_classes is not None and (isinstance(num_classes, bool)
                                        or not isinstance(num_classes, int)
                                        or num_classes < 1):
            raise ValueError(f'num_classes must be a positive int, got '
                             f'{num_classes!r}')
        self.num_classes = num_classes

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            if 'pred_score' in ds:
                pred = ds['pred_score'].argmax().view(1)
            else:
                pred = ds['pred_label'].view(-1)[:1]
            self.results.append(
                dict(
                    pred=pred.cpu().long(),
                    gt=ds['gt_label'].view(-1)[:1].cpu()))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        num_classes = self.num_classes
        if num_classes is None:
            classes = (self.dataset_meta or {}).get('classes', None)
            if classes is None:
                raise ValueError('Balancedness needs num_classes (the '
                                 'dataset has no class names in its meta)')
            num_classes = len(classes)
        pred = torch.stack([r['pred'] for r in results])
        gt = torch.cat([r['gt'] for r in results])
        if int(gt.max()) >= num_classes or int(gt.min()) < 0:
            raise ValueError(f'Balancedness: labels must be in [0, '
                             f'{num_classes}), got max {int(gt.max())}')
        correct, total = per_class_correct(pred, gt, num_classes, k=1)
        evaluated = total > 0
        if not evaluated.all():
            print_log(
                f'Balancedness: {int((~evaluated).sum())} classes have no '
                'test samples and are left out',
                logger='current',
                level=logging.WARNING)
        acc = correct[evaluated] / total[evaluated]
        return dict(beta=balancedness(acc, self.sigma), sigma=self.sigma)
