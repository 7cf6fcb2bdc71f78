# Copyright (c) ltcls contributors. All rights reserved.
"""Index pairs for two independent data streams in one training step.

``DualStreamSampler`` yields ``(feature_index, classifier_index)`` pairs that
:class:`~ltcls.datasets.DualStreamDataset` turns into one packed sample (the
contrastive views of the first image plus the classifier-branch view of the
second). See ``ltcls/datasets/dual_stream.py`` for why the two streams are
built this way.

Per epoch, one *global* sequence of ``total_size`` pairs is drawn from
``(seed, epoch)`` only, so every rank computes the same sequence and takes
its own slice, exactly like mmengine's ``DefaultSampler``:

* feature stream ``'instance'``: mmengine's ``DefaultSampler(shuffle=True)``
  order, bit for bit (``torch.randperm`` seeded with ``seed + epoch``,
  rounded up by repetition to a multiple of the world size, rank-strided);
* feature stream ``'class_balanced'`` (the CB-PSC ablation) and classifier
  stream ``'class_balanced'`` (the default): :func:`class_balanced_indices`
  with independent random streams;
* feature stream ``'class_grouped'``: groups of ``images_per_class``
  same-class images (an instance-shuffled anchor plus random images of its
  class), whole groups dealt to ranks round-robin, so that every anchor has
  a fixed number of in-batch positives (the iNaturalist Hybrid-SC recipe,
  spec_hybrid.md §9.5). Keep the per-rank batch size a multiple of
  ``images_per_class`` so groups are not split across batches;
* classifier stream ``'instance'``: an independent random permutation.
"""
import math
from typing import Iterator, Optional, Sized, Tuple

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from ltcls.registry import DATA_SAMPLERS

__all__ = ['DualStreamSampler', 'class_balanced_indices']

FEAT_SAMPLINGS = ('instance', 'class_balanced', 'class_grouped')
CLS_SAMPLINGS = ('class_balanced', 'instance')


def class_balanced_indices(labels: np.ndarray, num: int,
                           rng: np.random.Generator) -> np.ndarray:
    """Class-balanced sample indices (vectorised, no loop over classes).

    Classes are visited in consecutive random permutations of the non-empty
    classes (so in any prefix every class appears equally often, up to one),
    and each class walks through its images in a random order, reshuffled
    after every pass (mmdet's ``ClassAwareSampler`` semantics with
    ``num_sample_class=1``).

    Args:
        labels (np.ndarray): (N, ) int class label of every dataset index.
        num (int): Number of indices to draw.
        rng (np.random.Generator): Source of randomness.

    Returns:
        np.ndarray: (num, ) int64 dataset indices.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError('class_balanced_indices needs a non-empty 1-D label '
                         f'array, got shape {labels.shape}')
    if labels.min() < 0:
        raise ValueError('class_balanced_indices: labels must be >= 0, got '
                         f'{int(labels.min())}')
    if num <= 0:
        return np.zeros(0, dtype=np.int64)
    counts = np.bincount(labels)
    present = np.flatnonzero(counts > 0)
    cycles = math.ceil(num / len(present))
    perms = np.argsort(rng.random((cycles, len(present))), axis=1)
    cls_seq = present[perms].reshape(-1)[:num]  # (num, )
    draws = np.bincount(cls_seq, minlength=len(counts))  # per class
    rounds = -(-draws // np.maximum(counts, 1))  # ceil, 0 if not drawn

    # every image of class c repeated rounds[c] times; copy r is round r
    by_class = np.argsort(labels, kind='stable')
    reps = rounds[labels[by_class]]
    elem = np.repeat(by_class, reps)
    round_id = np.arange(len(elem)) - np.repeat(np.cumsum(reps) - reps, reps)
    elem_cls = labels[elem]
    # sort by (class, round, random key): a fresh permutation per pass
    order = np.lexsort((rng.random(len(elem)), round_id, elem_cls))
    elem, elem_cls = elem[order], elem_cls[order]
    block = counts * rounds  # elements per class in ``elem``
    start = np.cumsum(block) - block
    pos = np.arange(len(elem)) - start[elem_cls]
    pool = elem[pos < draws[elem_cls]]  # first draws[c] of every class
    # the t-th occurrence of class c in cls_seq gets the t-th draw of c
    out = np.empty(num, dtype=np.int64)
    out[np.argsort(cls_seq, kind='stable')] = pool
    return out


@DATA_SAMPLERS.register_module()
class DualStreamSampler(Sampler):
    """Sampler of ``(feature_index, classifier_index)`` pairs (Hybrid-SC /
    Hybrid-PSC).

    Args:
        dataset (Sized): The dataset (normally ``DualStreamDataset``); must
            implement ``get_gt_labels()``.
        seed (int, optional): Same on every rank; None syncs a random one
            (as ``DefaultSampler``). The runner passes its seed.
        shuffle (bool): Shuffle the instance stream (False gives
            ``0, 1, 2, ...``, for debugging). Defaults to True.
        feat_sampling (str): ``'instance'``, ``'class_balanced'`` or
            ``'class_grouped'``. Defaults to ``'instance'``.
        cls_sampling (str): ``'class_balanced'`` or ``'instance'``.
            Defaults to ``'class_balanced'``.
        images_per_class (int): Group size for ``'class_grouped'``.
            Defaults to 2.

    The epoch has ``ceil(len(dataset) / world_size)`` pairs per rank
    (``ceil(len(dataset) / (world_size * g)) * g`` for ``'class_grouped'``).
    Call :meth:`set_epoch` every epoch (mmengine's loop and
    ``DistSamplerSeedHook`` do).
    """

    def __init__(self,
                 dataset: Sized,
                 seed: Optional[int] = None,
                 shuffle: bool = True,
                 feat_sampling: str = 'instance',
                 cls_sampling: str = 'class_balanced',
                 images_per_class: int = 2) -> None:
        if feat_sampling not in FEAT_SAMPLINGS:
            raise ValueError(f'DualStreamSampler: feat_sampling must be one '
                             f'of {FEAT_SAMPLINGS}, got {feat_sampling!r}')
        if cls_sampling not in CLS_SAMPLINGS:
            raise ValueError(f'DualStreamSampler: cls_sampling must be one '
                             f'of {CLS_SAMPLINGS}, got {cls_sampling!r}')
        if isinstance(images_per_class, bool) or \
                not isinstance(images_per_class, int) or images_per_class < 1:
            raise ValueError('DualStreamSampler: images_per_class must be an '
                             f'int >= 1, got {images_per_class!r}')
        if not hasattr(dataset, 'get_gt_labels'):
            raise TypeError('DualStreamSampler: the dataset '
                            f'{type(dataset).__name__} has no get_gt_labels()'
                            '; it needs the class label of every sample')
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.labels = np.asarray(dataset.get_gt_labels(), dtype=np.int64)
        if len(self.labels) != len(dataset) or len(self.labels) == 0:
            raise ValueError('DualStreamSampler: the dataset has '
                             f'{len(dataset)} samples but '
                             f'{len(self.labels)} labels')
        if self.labels.min() < 0:
            raise ValueError('DualStreamSampler: labels must be >= 0, got '
                             f'{int(self.labels.min())}')
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.shuffle = shuffle
        self.feat_sampling = feat_sampling
        self.cls_sampling = cls_sampling
        self.images_per_class = images_per_class
        self.epoch = 0
        n = len(self.labels)
        if feat_sampling == 'class_grouped':
            g = images_per_class
            self.num_samples = math.ceil(n / (self.world_size * g)) * g
        else:
            self.num_samples = math.ceil(n / self.world_size)
        self.total_size = self.num_samples * self.world_size

    # ------------------------------------------------------------------
    def _rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng(
            np.random.SeedSequence([self.seed % 2**32, self.epoch, stream]))

    def _instance_order(self) -> np.ndarray:
        """DefaultSampler's global order (before rounding up)."""
        n = len(self.labels)
        if not self.shuffle:
            return np.arange(n)
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return torch.randperm(n, generator=g).numpy()

    @staticmethod
    def _round_up(indices: np.ndarray, size: int) -> np.ndarray:
        reps = size // len(indices) + 1
        return np.tile(indices, reps)[:size]

    def _grouped(self) -> np.ndarray:
        """(total_size, ) groups of g same-class indices, group-major."""
        g = self.images_per_class
        num_groups = self.total_size // g
        anchors = self._round_up(self._instance_order(), num_groups)
        if g == 1:
            return anchors
        labels = self.labels
        counts = np.bincount(labels)
        by_class = np.argsort(labels, kind='stable')
        start = np.cumsum(counts) - counts
        rank_in_class = np.empty(len(labels), dtype=np.int64)
        rank_in_class[by_class] = np.arange(len(labels)) - start[labels[
            by_class]]
        cls = labels[anchors]
        n_c = counts[cls]
        rng = self._rng(3)
        # partners: another image of the class (the anchor itself when the
        # class has a single image; its other view stays a positive)
        shift = 1 + np.floor(rng.random((num_groups, g - 1)) *
                             np.maximum(n_c - 1, 1)[:, None]).astype(np.int64)
        shift = np.where((n_c > 1)[:, None], shift, 0)
        pos = (rank_in_class[anchors][:, None] + shift) % n_c[:, None]
        partners = by_class[start[cls][:, None] + pos]
        return np.concatenate([anchors[:, None], partners], 1).reshape(-1)

    def global_pairs(self) -> Tuple[np.ndarray, np.ndarray]:
        """The epoch's global (feature, classifier) index sequences, each
        (total_size, ), before the per-rank split."""
        if self.feat_sampling == 'instance':
            feat = self._round_up(self._instance_order(), self.total_size)
        elif self.feat_sampling == 'class_balanced':
            feat = class_balanced_indices(self.labels, self.total_size,
                                          self._rng(1))
        else:
            feat = self._grouped()
        if self.cls_sampling == 'class_balanced':
            cls = class_balanced_indices(self.labels, self.total_size,
                                         self._rng(2))
        else:
            cls = self._round_up(
                self._rng(2).permutation(len(self.labels)), self.total_size)
        return feat, cls

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        feat, cls = self.global_pairs()
        if self.feat_sampling == 'class_grouped':
            # deal whole groups to ranks round-robin
            g = self.images_per_class
            blocks = np.arange(self.total_size).reshape(-1, g)
            take = blocks[self.rank::self.world_size].reshape(-1)
        else:
            take = np.arange(self.rank, self.total_size, self.world_size)
        return iter(zip(feat[take].tolist(), cls[take].tolist()))

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
