# Copyright (c) ltcls contributors. All rights reserved.
"""Shared long-tailed dataset helpers.

``long_tail_counts`` implements the LDAM / BBN protocol used by every
CIFAR-LT paper: ``n_i = int(n_max * IF ** (-i / (C - 1)))`` for the
exponential profile, and ``n_max`` for the first ``C // 2`` classes then
``int(n_max / IF)`` for the rest for the step profile.

``LongTailMixin`` gives a dataset the ``class_counts`` that samplers,
metrics, losses (Balanced Softmax, LDAM, logit adjustment...) and hooks read.
"""
from typing import List, Sequence

import numpy as np

PROFILES = ('exp', 'step')


def check_imbalance_factor(imbalance_factor) -> float:
    """Validate an imbalance factor (n_max / n_min); it must be >= 1."""
    try:
        value = float(imbalance_factor)
    except (TypeError, ValueError):
        raise TypeError('imbalance_factor must be a number >= 1, got '
                        f'{imbalance_factor!r}') from None
    if not np.isfinite(value) or value < 1:
        raise ValueError('imbalance_factor must be >= 1 (it is n_max / n_min '
                         f'of the long-tailed split), got {imbalance_factor!r}')
    return value


def long_tail_counts(n_max: int,
                     num_classes: int,
                     imbalance_factor: float,
                     profile: str = 'exp') -> List[int]:
    """Per-class image counts of a long-tailed split.

    Args:
        n_max (int): Images of the most frequent class (class 0).
        num_classes (int): Number of classes C.
        imbalance_factor (float): n_max / n_min, >= 1. 1 gives a balanced
            split.
        profile (str): ``'exp'`` (exponential, LDAM/BBN) or ``'step'``
            (first half n_max, second half int(n_max / IF)).

    Returns:
        list[int]: C counts, non-increasing.

    Example:
        >>> sum(long_tail_counts(500, 100, 100))  # CIFAR-100-LT, IF 100
        10847
    """
    imbalance_factor = check_imbalance_factor(imbalance_factor)
    if profile not in PROFILES:
        raise ValueError(f'profile must be one of {PROFILES}, got {profile!r}')
    if int(n_max) < 1:
        raise ValueError(f'n_max must be >= 1, got {n_max}')
    if int(num_classes) < 1:
        raise ValueError(f'num_classes must be >= 1, got {num_classes}')
    if num_classes == 1:
        return [int(n_max)]
    if profile == 'exp':
        # Same arithmetic as the LDAM-DRW reference code (float64, int()).
        ratio = 1.0 / imbalance_factor
        return [
            int(n_max * ratio**(i / (num_classes - 1.0)))
            for i in range(num_classes)
        ]
    half = num_classes // 2
    return [int(n_max)] * half + [int(n_max / imbalance_factor)
                                   ] * (num_classes - half)


def select_first_per_class(labels: Sequence[int],
                           counts: Sequence[int]) -> np.ndarray:
    """Indices of the first ``counts[c]`` samples of each class, in order.

    This is the CIFAR-LT protocol ("first n_i images of each class in file
    order"); it does not assume the labels are sorted.

    Raises:
        ValueError: if a class has fewer samples than requested.
    """
    labels = np.asarray(labels, dtype=np.int64)
    keep = np.zeros(len(labels), dtype=bool)
    for c, n in enumerate(counts):
        idx = np.flatnonzero(labels == c)
        if len(idx) < n:
            raise ValueError(f'class {c} has only {len(idx)} samples but the '
                             f'long-tailed profile asks for {n}')
        keep[idx[:n]] = True
    return np.flatnonzero(keep)


def check_no_empty_class(counts, where: str, hint: str = '') -> None:
    """Refuse a training split in which a class has no image.

    Every LT dataset (CIFAR-LT, DigitsLT, the txt / JSON lists) goes through
    this check: a class without training images has a zero prior (``log 0``
    in Balanced Softmax / logit adjustment), no positive for the contrastive
    losses, and an undefined class-balanced weight.

    Args:
        counts: (C,) images per class.
        where (str): what is being built, starts the message (e.g.
            ``'ImageNetLT: ann_file train.txt'``).
        hint (str): how to fix it, appended to the message.

    Raises:
        ValueError: naming the class ids (the first 20) without an image.
    """
    counts = np.asarray(counts)
    empty = np.flatnonzero(counts < 1).tolist()
    if not empty:
        return
    shown = str(empty[:20])[:-1] + (', ...]' if len(empty) > 20 else ']')
    raise ValueError(
        f'{where}: class ids {shown} ({len(empty)} of {len(counts)} '
        'classes) have zero training images' + (f'; {hint}' if hint else ''))


class LongTailMixin:
    """Adds per-class training counts to an mmpretrain ``BaseDataset``.

    The mixin needs ``get_gt_labels()`` and ``metainfo['classes']`` (or
    ``CLASSES``), which every mmpretrain classification dataset has.
    """

    @property
    def num_classes(self) -> int:
        classes = self.metainfo.get('classes', None)
        if classes is None:
            raise AttributeError(
                f'{type(self).__name__} has no class names in its metainfo; '
                'cannot tell the number of classes')
        return len(classes)

    @property
    def class_counts(self) -> np.ndarray:
        """np.ndarray of shape (num_classes,): images per class."""
        labels = np.asarray(self.get_gt_labels(), dtype=np.int64)
        return np.bincount(labels, minlength=self.num_classes)

    def check_labels(self, source: str = '') -> None:
        """Raise a clear error if a label is outside [0, num_classes)."""
        labels = np.asarray(self.get_gt_labels(), dtype=np.int64)
        if len(labels) == 0:
            return
        bad = (labels < 0) | (labels >= self.num_classes)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            where = f' in {source}' if source else ''
            raise ValueError(
                f'label {int(labels[first])} of sample {first}{where} is out '
                f'of range for {self.num_classes} classes')
