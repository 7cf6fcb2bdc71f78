# Copyright (c) ltcls contributors. All rights reserved.
"""Class-aware (class-balanced) sampler and the label helpers shared by the
ltcls samplers."""
import math
from typing import Dict, Optional, Tuple

import numpy as np
from mmdet.datasets.samplers.class_aware_sampler import \
    ClassAwareSampler as MMDetClassAwareSampler
from mmengine.dist import get_dist_info, sync_random_seed

from ltcls.registry import DATA_SAMPLERS

__all__ = ['ClassAwareSampler', 'dataset_labels', 'check_shuffle']


def dataset_labels(dataset) -> Tuple[np.ndarray, int]:
    """Single-label targets of a dataset and its number of classes.

    Uses ``get_gt_labels()`` (mmpretrain datasets; ltcls LT datasets cache
    it) and falls back to ``get_cat_ids(i)`` (mmengine dataset wrappers).
    The number of classes is ``dataset.num_classes``, else
    ``len(metainfo['classes'])``, else ``max(label) + 1``.

    Returns:
        tuple: labels (np.ndarray int64 (N,)) and num_classes (int).

    Raises:
        TypeError: the dataset has neither method.
        ValueError: a sample with zero or several labels, or a label out of
            range.
    """
    name = type(dataset).__name__
    if hasattr(dataset, 'get_gt_labels'):
        labels = np.asarray(dataset.get_gt_labels())
    elif hasattr(dataset, 'get_cat_ids'):
        labels = []
        for i in range(len(dataset)):
            cats = list(dataset.get_cat_ids(i))
            if len(cats) != 1:
                raise ValueError(
                    f'sample {i} of {name} has {len(cats)} categories; '
                    'class-based samplers need single-label data')
            labels.append(int(cats[0]))
        labels = np.asarray(labels, dtype=np.int64)
    else:
        raise TypeError(f'{name} has neither get_gt_labels() nor '
                        'get_cat_ids(); class-based samplers need labels')
    if labels.ndim != 1 or (len(labels)
                            and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f'{name}.get_gt_labels() must give one integer '
                         f'label per sample, got {labels.dtype} '
                         f'{labels.shape}')
    labels = labels.astype(np.int64)
    num_classes = getattr(dataset, 'num_classes', None)
    if num_classes is None:
        metainfo = getattr(dataset, 'metainfo', None) or {}
        classes = metainfo.get('classes', None)
        if classes is not None:
            num_classes = len(classes)
        else:
            num_classes = int(labels.max()) + 1 if len(labels) else 0
    num_classes = int(num_classes)
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if len(bad):
        raise ValueError(f'label {int(labels[bad[0]])} of sample '
                         f'{int(bad[0])} of {name} is out of range for '
                         f'{num_classes} classes')
    return labels, num_classes


def check_shuffle(shuffle, name: str) -> None:
    """Validate the ``shuffle`` argument of the class-based samplers.

    It is accepted (True only) so that a config can replace the base
    configs' ``dict(type='DefaultSampler', shuffle=True)`` by changing
    ``type`` alone: mmengine merges the child dict into the base one, so
    ``shuffle=True`` reaches the new sampler.
    """
    if shuffle is not True:
        raise ValueError(
            f'{name} always draws at random; shuffle={shuffle!r} is not '
            'supported (shuffle=True is accepted for config compatibility '
            'with DefaultSampler)')


@DATA_SAMPLERS.register_module(
    name=['ClassAwareSampler', 'ClassBalancedSampler'])
class ClassAwareSampler(MMDetClassAwareSampler):
    """Class-balanced sampling: every class is drawn equally often.

    The draw of an epoch cycles through a shuffled list of the non-empty
    classes (reshuffled after each full cycle) and, for each class, takes
    ``num_sample_class`` images from that class's own shuffled cyclic
    iterator (reshuffled after each pass over the class). This is the
    sampler of Kang et al. 2020 (cRT), of the KCL code (spec_kcl.md §4.2)
    and of SBCL's stage 2 (``num_sample_class=4``).

    The epoch has ``len(dataset)`` draws in total; each of the W ranks takes
    a disjoint contiguous shard of ``ceil(len(dataset) / W)`` draws of the
    same global draw, seeded by ``seed + epoch`` (``set_epoch``).

    Reuses mmdet 3.3's ``ClassAwareSampler`` (``__iter__``, ``__len__``,
    ``set_epoch``: exactly the scheme above). ``__init__`` and
    ``get_cat2imgs`` are replaced because mmdet's call ``get_cat_ids`` on
    every image in Python (multi-label detection data: minutes on
    iNaturalist's 437K images without a label cache), do not validate
    labels, and end in a ``ZeroDivisionError`` for an empty dataset.

    Args:
        dataset: A single-label dataset with ``get_gt_labels()`` or
            ``get_cat_ids()``.
        seed (int, optional): Same on all ranks; None syncs a random one.
        num_sample_class (int): Consecutive images drawn per visit of a
            class. Defaults to 1.
        shuffle (bool): Must be True (see :func:`check_shuffle`).
    """

    def __init__(self,
                 dataset,
                 seed: Optional[int] = None,
                 num_sample_class: int = 1,
                 shuffle: bool = True) -> None:
        check_shuffle(shuffle, type(self).__name__)
        if isinstance(num_sample_class, bool) or not isinstance(
                num_sample_class, (int, np.integer)) or num_sample_class < 1:
            raise ValueError('num_sample_class must be a positive int, got '
                             f'{num_sample_class!r}')
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.epoch = 0
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.num_sample_class = int(num_sample_class)
        self.cat_dict = self.get_cat2imgs()
        if len(dataset) == 0:
            raise ValueError(f'{type(self).__name__}: the dataset is empty')
        self.num_samples = int(math.ceil(len(dataset) / self.world_size))
        self.total_size = self.num_samples * self.world_size
        self.num_cat_imgs = [len(x) for x in self.cat_dict.values()]
        self.valid_cat_inds = [
            i for i, n in enumerate(self.num_cat_imgs) if n != 0
        ]
        self.num_classes = len(self.valid_cat_inds)

    def get_cat2imgs(self) -> Dict[int, list]:
        """dict class -> list of dataset indices of that class (all
        classes, empty lists included)."""
        labels, num_classes = dataset_labels(self.dataset)
        order = np.argsort(labels, kind='stable')
        counts = np.bincount(labels, minlength=num_classes)
        groups = np.split(order, np.cumsum(counts)[:-1])
        return {c: g.tolist() for c, g in enumerate(groups)}
