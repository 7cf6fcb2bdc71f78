# Copyright (c) ltcls contributors. All rights reserved.
"""Samplers that draw a class from per-class probabilities, then an image of
that class: power (square-root) and progressively-balanced sampling
(Kang et al. 2020, "Decoupling representation and classifier"; spec_kcl.md
§4.3).

The instance-balanced sampler (p_j ∝ n_j, each image once per epoch) is
mmengine's ``DefaultSampler(shuffle=True)``.
"""
import math
from typing import Iterator, Optional

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from ltcls.registry import DATA_SAMPLERS
from .class_aware import check_shuffle, dataset_labels

__all__ = [
    'ClassProbabilitySampler', 'PowerSampler', 'SquareRootSampler',
    'ProgressivelyBalancedSampler', 'cyclic_class_draw'
]


def cyclic_class_draw(classes: np.ndarray, members: np.ndarray,
                      class_counts: np.ndarray,
                      generator: torch.Generator) -> np.ndarray:
    """Pick one image for each drawn class from per-class shuffled cycles.

    The images of class c are visited as an endless concatenation of
    independent random permutations of the class (a reshuffled cyclic
    iterator): the k-th draw of class c (in draw order) gets element
    ``k % n_c`` of permutation ``k // n_c``. Vectorised: all needed
    permutations come from one lexsort of random keys.

    Args:
        classes (np.ndarray): (T,) int64, the drawn class of each draw.
        members (np.ndarray): (N,) int64, dataset indices grouped by class
            (class 0's first), e.g. ``argsort(labels, kind='stable')``.
        class_counts (np.ndarray): (C,) int64, images per class (n_c).
        generator (torch.Generator): Source of randomness.

    Returns:
        np.ndarray: (T,) int64 dataset indices.
    """
    num_classes = len(class_counts)
    n = np.asarray(class_counts, dtype=np.int64)
    draws = np.bincount(classes, minlength=num_classes)  # m_c
    if np.any((draws > 0) & (n == 0)):
        raise ValueError('a class without images was drawn')
    # rank k of every draw among the draws of its class
    order = np.argsort(classes, kind='stable')
    group_start = np.cumsum(draws) - draws
    k = np.empty(len(classes), dtype=np.int64)
    k[order] = np.arange(len(classes)) - group_start[classes[order]]
    # class c needs R_c = ceil(m_c / n_c) permutations ("blocks") of n_c
    cycles = np.zeros(num_classes, dtype=np.int64)
    used = draws > 0
    cycles[used] = -(-draws[used] // n[used])
    block_cls = np.repeat(np.arange(num_classes), cycles)
    block_len = n[block_cls]
    block_start = np.cumsum(block_len) - block_len
    elem_block = np.repeat(np.arange(len(block_cls)), block_len)
    elem_pos = np.arange(len(elem_block)) - block_start[elem_block]
    class_start = np.cumsum(n) - n
    elem_member = members[class_start[block_cls[elem_block]] + elem_pos]
    keys = torch.rand(
        len(elem_block), generator=generator, dtype=torch.float64).numpy()
    # sort by block, then by random key: each block becomes a permutation
    table = elem_member[np.lexsort((keys, elem_block))]
    first_block = np.cumsum(cycles) - cycles
    nc = n[classes]
    block = first_block[classes] + k // nc
    return table[block_start[block] + k % nc]


class ClassProbabilitySampler(Sampler):
    """Base class: draw classes i.i.d. from ``class_probs()``, then images
    from per-class shuffled cycles (:func:`cyclic_class_draw`).

    The epoch has ``len(dataset)`` draws in total (rounded up to a multiple
    of the world size W); all ranks compute the same global draw from
    ``seed + epoch`` and rank r takes the contiguous shard
    ``[r * ceil(N / W), (r + 1) * ceil(N / W))``.

    Subclasses implement ``class_probs()`` (may depend on ``self.epoch``).

    Args:
        dataset: A single-label dataset with ``get_gt_labels()`` or
            ``get_cat_ids()``.
        seed (int, optional): Same on all ranks; None syncs a random one.
        shuffle (bool): Must be True (accepted so that a config can swap
            ``DefaultSampler(shuffle=True)`` for this sampler by type).
    """

    def __init__(self,
                 dataset,
                 seed: Optional[int] = None,
                 shuffle: bool = True) -> None:
        check_shuffle(shuffle, type(self).__name__)
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.epoch = 0
        labels, num_classes = dataset_labels(dataset)
        if len(labels) == 0:
            raise ValueError(f'{type(self).__name__}: the dataset is empty')
        self.class_counts = np.bincount(labels, minlength=num_classes)
        self._members = np.argsort(labels, kind='stable')
        self.num_samples = int(math.ceil(len(labels) / self.world_size))
        self.total_size = self.num_samples * self.world_size

    def class_probs(self) -> np.ndarray:
        """np.ndarray (C,) float64: class probabilities of this epoch."""
        raise NotImplementedError

    def _draw(self, size: int, generator: torch.Generator) -> np.ndarray:
        probs = self.class_probs()
        classes = torch.multinomial(
            torch.from_numpy(probs),
            size,
            replacement=True,
            generator=generator).numpy()
        return cyclic_class_draw(classes, self._members, self.class_counts,
                                 generator)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        indices = self._draw(self.total_size, g)
        start = self.rank * self.num_samples
        return iter(indices[start:start + self.num_samples].tolist())

    def __len__(self) -> int:
        """The number of samples of this rank."""
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch (changes the draw, and the class probabilities of
        epoch-dependent samplers); called by ``DistSamplerSeedHook``."""
        self.epoch = int(epoch)


@DATA_SAMPLERS.register_module()
class PowerSampler(ClassProbabilitySampler):
    """Class-probability sampling with p_j ∝ n_j^q.

    q = 1: instance-balanced in expectation (with replacement; the exact
    one-pass version is ``DefaultSampler``); q = 1/2: square-root sampling;
    q = 0: class-balanced with i.i.d. class draws (``ClassAwareSampler``
    cycles through the classes instead). Empty classes get p_j = 0.

    Args:
        dataset: See :class:`ClassProbabilitySampler`.
        q (float): The power, >= 0. Defaults to 0.5.
        seed (int, optional): See :class:`ClassProbabilitySampler`.
        shuffle (bool): See :class:`ClassProbabilitySampler`.
    """

    def __init__(self,
                 dataset,
                 q: float = 0.5,
                 seed: Optional[int] = None,
                 shuffle: bool = True) -> None:
        if isinstance(q, bool) or not isinstance(
                q, (int, float)) or not q >= 0 or not math.isfinite(q):
            raise ValueError(f'q must be a finite number >= 0, got {q!r}')
        self.q = float(q)
        super().__init__(dataset, seed=seed, shuffle=shuffle)

    def class_probs(self) -> np.ndarray:
        n = self.class_counts.astype(np.float64)
        w = np.where(n > 0, n**self.q, 0.0)
        return w / w.sum()


@DATA_SAMPLERS.register_module()
class SquareRootSampler(PowerSampler):
    """:class:`PowerSampler` with q = 1/2 (p_j ∝ sqrt(n_j))."""

    def __init__(self,
                 dataset,
                 seed: Optional[int] = None,
                 shuffle: bool = True) -> None:
        super().__init__(dataset, q=0.5, seed=seed, shuffle=shuffle)


@DATA_SAMPLERS.register_module()
class ProgressivelyBalancedSampler(ClassProbabilitySampler):
    """Progressively-balanced sampling (Kang et al. 2020):

    p_j(t) = (1 - t/T) n_j / N + (t/T) / C',

    with t the epoch set by ``set_epoch`` (0-based, as mmengine's
    ``DistSamplerSeedHook`` passes it), T = ``total_epochs`` and C' the
    number of non-empty classes; t/T is clipped to [0, 1], so epoch 0 is
    instance-balanced and epochs >= T are class-balanced.

    Args:
        dataset: See :class:`ClassProbabilitySampler`.
        total_epochs (int): T, usually ``train_cfg.max_epochs``.
        seed (int, optional): See :class:`ClassProbabilitySampler`.
        shuffle (bool): See :class:`ClassProbabilitySampler`.
    """

    def __init__(self,
                 dataset,
                 total_epochs: int,
                 seed: Optional[int] = None,
                 shuffle: bool = True) -> None:
        if isinstance(
                total_epochs,
                bool) or not isinstance(total_epochs,
                                        (int, np.integer)) or total_epochs < 1:
            raise ValueError('total_epochs must be a positive int, got '
                             f'{total_epochs!r}')
        self.total_epochs = int(total_epochs)
        super().__init__(dataset, seed=seed, shuffle=shuffle)

    def class_probs(self) -> np.ndarray:
        n = self.class_counts.astype(np.float64)
        p_ib = n / n.sum()
        p_cb = (n > 0) / np.count_nonzero(n)
        alpha = min(max(self.epoch / self.total_epochs, 0.0), 1.0)
        return (1.0 - alpha) * p_ib + alpha * p_cb
