# Copyright (c) ltcls contributors. All rights reserved.
"""DigitsLT: a long-tailed split of scikit-learn's bundled digits.

The 1,797 real 8x8 handwritten digits that ship inside scikit-learn (no
download) are scaled to 32x32 RGB uint8 images. A class-balanced test set of
``test_per_class`` images per class is held out with a fixed seed; the rest
forms the pool from which the long-tailed training split takes the first
``n_i`` images of each class (the CIFAR-LT protocol), with
``n_i = int(n_max * IF ** (-i / 9))`` and ``n_max`` the smallest pool size.
"""
from typing import List

import numpy as np
from mmpretrain.datasets.base_dataset import BaseDataset

from ltcls.registry import DATASETS
from .long_tail import (LongTailMixin, check_imbalance_factor,
                        check_no_empty_class, long_tail_counts,
                        select_first_per_class)

DIGITS_CLASSES = tuple(str(i) for i in range(10))


def load_digits_images(image_size: int = 32):
    """Return (images uint8 N x S x S x 3, labels int64 N) of sklearn digits."""
    import cv2
    from sklearn.datasets import load_digits
    digits = load_digits()
    raw = digits.images.astype(np.float32)  # N x 8 x 8, values 0..16
    imgs = np.empty((len(raw), image_size, image_size, 3), dtype=np.uint8)
    for i, im in enumerate(raw):
        big = cv2.resize(
            im / 16.0 * 255.0, (image_size, image_size),
            interpolation=cv2.INTER_LINEAR)
        big = np.clip(np.rint(big), 0, 255).astype(np.uint8)
        imgs[i] = big[..., None]
    return imgs, digits.target.astype(np.int64)


@DATASETS.register_module()
class DigitsLT(LongTailMixin, BaseDataset):
    """Long-tailed handwritten digits (10 classes, 32x32), no download.

    Args:
        split (str): ``'train'`` (long-tailed) or ``'test'`` (balanced).
        imbalance_factor (float): n_max / n_min of the train split, >= 1.
            Defaults to 10.
        profile (str): ``'exp'`` or ``'step'``. Defaults to ``'exp'``.
        test_per_class (int): Held-out test images per class. Defaults to 50.
        seed (int): Seed of the train/test partition. Defaults to 0.
        image_size (int): Side of the square RGB images. Defaults to 32.
        pipeline (list): Transforms; images are already arrays, so no
            ``LoadImageFromFile`` is needed.
        **kwargs: Passed to mmpretrain's ``BaseDataset``.
    """

    METAINFO = {'classes': DIGITS_CLASSES}

    def __init__(self,
                 split: str = 'train',
                 imbalance_factor: float = 10,
                 profile: str = 'exp',
                 test_per_class: int = 50,
                 seed: int = 0,
                 image_size: int = 32,
                 pipeline=(),
                 **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(
                f"DigitsLT split must be 'train' or 'test', got {split!r}")
        self.split = split
        self.imbalance_factor = check_imbalance_factor(imbalance_factor)
        self.profile = profile
        self.test_per_class = int(test_per_class)
        self.seed = seed
        self.image_size = int(image_size)
        kwargs.setdefault('ann_file', '')
        super().__init__(pipeline=pipeline, **kwargs)

    def load_data_list(self) -> List[dict]:
        imgs, labels = load_digits_images(self.image_size)
        rng = np.random.RandomState(self.seed)
        num_classes = len(DIGITS_CLASSES)
        test_idx, pool_idx = [], []
        for c in range(num_classes):
            idx = np.flatnonzero(labels == c)
            idx = idx[rng.permutation(len(idx))]
            if len(idx) <= self.test_per_class:
                raise ValueError(
                    f'test_per_class={self.test_per_class} leaves no training '
                    f'images for digit {c} ({len(idx)} images in total)')
            test_idx.append(np.sort(idx[:self.test_per_class]))
            pool_idx.append(np.sort(idx[self.test_per_class:]))
        if self.split == 'test':
            chosen = np.sort(np.concatenate(test_idx))
        else:
            pool = np.sort(np.concatenate(pool_idx))
            n_max = min(len(p) for p in pool_idx)
            counts = long_tail_counts(n_max, num_classes,
                                      self.imbalance_factor, self.profile)
            check_no_empty_class(
                counts, f'DigitsLT: imbalance_factor='
                f'{self.imbalance_factor:g} (n_max={n_max})',
                f'use an imbalance factor <= {n_max}')
            chosen = pool[select_first_per_class(labels[pool], counts)]
        # mmengine adds ``sample_idx`` (the dataset index) in get_data_info.
        return [dict(img=imgs[i], gt_label=int(labels[i])) for i in chosen]

    def extra_repr(self) -> List[str]:
        return [
            f'Split: \t{self.split}',
            f'Imbalance factor: \t{self.imbalance_factor:g} ({self.profile})',
        ]
