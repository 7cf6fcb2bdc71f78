# Copyright (c) ltcls contributors. All rights reserved.
"""Per-class training counts for losses and heads that need the label prior.

Balanced Softmax, logit adjustment (loss and post-hoc), LDAM and DRW all
depend on the training label distribution ``n_j``. The counts are not a
hyper-parameter: :class:`ltcls.engine.hooks.ClassCountsHook` reads them from
the train dataset (``dataset.class_counts``) and calls ``set_class_counts``
on every module that has it, before training, validation and testing.
Explicit ``class_counts`` in a config are also accepted (e.g. for a
checkpoint evaluated without its train set).

The counts are kept in a *non-persistent* float64 buffer: they are not
written into checkpoints (so a CE checkpoint loads strictly into a
Balanced-Softmax or logit-adjusted model) and are re-derived from the train
set on every run.
"""
from typing import Optional, Sequence, Union

import numpy as np
import torch

from .utils import check_int, compute_dtype_of

__all__ = [
    'check_class_counts', 'ClassCountsMixin', 'offset_cross_entropy',
    'check_cls_inputs'
]

CountsType = Union[Sequence[float], np.ndarray, torch.Tensor]


def check_class_counts(class_counts: CountsType,
                       num_classes: Optional[int] = None,
                       name: str = 'class_counts') -> np.ndarray:
    """Validate per-class training counts and return them as float64.

    Args:
        class_counts (Sequence | np.ndarray | Tensor): ``C`` non-negative
            counts, one per class.
        num_classes (int, optional): Expected ``C``.
        name (str): Name used in error messages (e.g. the owner module).

    Returns:
        np.ndarray: shape (C, ), float64, every entry > 0.

    Raises:
        ValueError: not 1-D, empty, non-finite, negative or zero counts
            (``log n_j`` would be ``-inf``), or ``C != num_classes``.
    """
    if isinstance(class_counts, torch.Tensor):
        class_counts = class_counts.detach().cpu().numpy()
    try:
        counts = np.asarray(class_counts, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f'{name} must be a sequence of numbers, got '
                        f'{class_counts!r}') from None
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f'{name} must be a non-empty 1-D sequence (one '
                         f'count per class), got shape {counts.shape}')
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError(f'{name} must be finite and >= 0, got {counts}')
    if np.any(counts == 0):
        empty = np.flatnonzero(counts == 0).tolist()
        raise ValueError(
            f'{name} has classes with zero training images: {empty[:10]}'
            f'{" ..." if len(empty) > 10 else ""}; their log prior is -inf. '
            'Check num_classes and the train split.')
    if num_classes is not None and counts.size != int(num_classes):
        raise ValueError(f'{name} has {counts.size} entries but '
                         f'num_classes={num_classes}')
    return counts


class ClassCountsMixin:
    """``set_class_counts`` for an ``nn.Module`` (loss or head).

    Call :meth:`_init_class_counts` in ``__init__`` after
    ``nn.Module.__init__``. The module then has:

    - ``class_counts``: float64 buffer of shape (C, ) (empty until set),
      non-persistent;
    - ``num_classes``: ``C`` (int) once known, checked by
      ``NumClassesCheckHook``;
    - :meth:`log_prior`: ``log(n_j / sum_k n_k)`` in a requested dtype.
    """

    def _init_class_counts(self,
                           class_counts: Optional[CountsType] = None,
                           num_classes: Optional[int] = None) -> None:
        if num_classes is not None:
            num_classes = check_int(
                type(self).__name__, 'num_classes', num_classes, low=1)
        self.num_classes = num_classes
        self.register_buffer(
            'class_counts',
            torch.zeros(0, dtype=torch.float64),
            persistent=False)
        if class_counts is not None:
            self.set_class_counts(class_counts)

    def set_class_counts(self, class_counts: CountsType) -> None:
        """Set the per-class training counts (shape (C, ))."""
        counts = check_class_counts(
            class_counts,
            self.num_classes,
            name=f'{type(self).__name__}.class_counts')
        self.num_classes = int(counts.size)
        self.class_counts = torch.as_tensor(
            counts, dtype=torch.float64, device=self.class_counts.device)
        self._on_class_counts_set()

    def _on_class_counts_set(self) -> None:
        """Hook for subclasses that derive state (margins...) from counts."""

    @property
    def has_class_counts(self) -> bool:
        return self.class_counts.numel() > 0

    def _require_class_counts(self, num_logits: int) -> None:
        if not self.has_class_counts:
            raise RuntimeError(
                f'{type(self).__name__} has no class counts. Add '
                "dict(type='ClassCountsHook') to custom_hooks (it reads "
                'train_dataloader.dataset.class_counts) or pass '
                'class_counts=[...] in its config.')
        if num_logits != self.class_counts.numel():
            raise ValueError(
                f'{type(self).__name__}: the scores have {num_logits} '
                f'classes but class_counts has {self.class_counts.numel()}')

    def log_prior(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``log(n_j / N)`` of shape (C, ) in ``dtype``."""
        counts = self.class_counts
        return (counts / counts.sum()).log().to(dtype)


def check_cls_inputs(cls_score: torch.Tensor, label: torch.Tensor,
                     owner: str) -> None:
    """Validate (N, C) scores against hard (N, ) or soft (N, C) labels."""
    if cls_score.dim() != 2:
        raise ValueError(f'{owner}: cls_score must be (N, C), got shape '
                         f'{tuple(cls_score.shape)}')
    n, c = cls_score.shape
    if label.dim() == 1:
        if label.numel() != n:
            raise ValueError(f'{owner}: {label.numel()} labels for {n} '
                             'scores')
        if label.dtype.is_floating_point:
            raise TypeError(f'{owner}: hard labels must be integers, got '
                            f'{label.dtype}')
        if n and (int(label.min()) < 0 or int(label.max()) >= c):
            raise ValueError(f'{owner}: labels must be in [0, {c}), got min '
                             f'{int(label.min())} max {int(label.max())}')
    elif label.dim() == 2:
        if tuple(label.shape) != (n, c):
            raise ValueError(f'{owner}: soft labels must be (N, C) = '
                             f'{(n, c)}, got {tuple(label.shape)}')
    else:
        raise ValueError(f'{owner}: label must be (N, ) or (N, C), got '
                         f'shape {tuple(label.shape)}')


def offset_cross_entropy(cls_score: torch.Tensor, offset: torch.Tensor,
                         label: torch.Tensor) -> torch.Tensor:
    """Per-sample ``-log softmax(cls_score + offset)[y]``.

    Args:
        cls_score (Tensor): (N, C) logits, any float dtype.
        offset (Tensor): (C, ) additive logit offset (e.g. ``log n_j``).
        label (Tensor): (N, ) int64 class indices or (N, C) soft targets
            (mixup / cutmix / label smoothing), whose rows sum to 1.

    Returns:
        Tensor: (N, ) per-sample loss in float32 (float64 if the scores are
        float64).
    """
    dtype = compute_dtype_of(cls_score)
    logits = cls_score.to(dtype) + offset.to(dtype)[None, :]
    log_p = torch.log_softmax(logits, dim=1)
    if label.dim() == 1:
        return -log_p.gather(1, label.long()[:, None]).squeeze(1)
    return -(label.to(dtype) * log_p).sum(dim=1)
