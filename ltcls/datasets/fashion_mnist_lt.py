# Copyright (c) ltcls contributors. All rights reserved.
"""Fashion-MNIST-LT: a long-tailed split of Fashion-MNIST (offline).

Built from the four standard IDX files (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``, gzipped or extracted) that Debian/Ubuntu's
package ``dataset-fashion-mnist`` installs under
``/usr/share/datasets/fashion-mnist/`` (the same files as on the dataset's
own site). Nothing is downloaded at run time.

The train split follows the CIFAR-LT protocol of
:mod:`ltcls.datasets.cifar_lt` (``'file_order'`` selection): per-class
counts ``n_i = int(n_max * IF ** (-i / 9))`` (``'exp'``) or ``n_max`` /
``int(n_max / IF)`` for classes 0-4 / 5-9 (``'step'``), the first ``n_i``
images of class ``i`` in file order, kept in file order. ``n_max`` is the
smallest class size of the train file (6,000 for the official files),
optionally bounded by ``max_per_class`` to make the split smaller. The
test split is the full, balanced 10,000-image test set (1,000 per class).
"""
import os.path as osp
from typing import List, Optional

import numpy as np
from mmpretrain.datasets.mnist import (FashionMNIST,
                                       read_sn3_pascalvincent_tensor)

from ltcls.registry import DATASETS
from .long_tail import (PROFILES, LongTailMixin, check_imbalance_factor,
                        long_tail_counts, select_first_per_class)
from .txt_lt import CachedLabelsMixin

__all__ = ['FashionMNISTLT', 'read_idx_file']

DEFAULT_ROOT = '/usr/share/datasets/fashion-mnist'
INSTALL_HINT = (
    'On Debian/Ubuntu install them with `sudo apt-get install '
    'dataset-fashion-mnist` (files in /usr/share/datasets/fashion-mnist/, '
    'or run tools/install.sh as root); otherwise download the four *.gz '
    'files from https://github.com/zalandoresearch/fashion-mnist '
    '(data/fashion/) into data_root.')


def read_idx_file(path: str, ndim: int) -> np.ndarray:
    """Read one uint8 IDX file (``.gz`` or extracted) with mmpretrain's
    reader, turning its bare asserts into errors that name the file.

    Args:
        path (str): The file.
        ndim (int): Expected dimensions: 3 for images (N, H, W), 1 for
            labels (N,).

    Returns:
        np.ndarray: uint8 array of ``ndim`` dimensions.
    """
    try:
        data = read_sn3_pascalvincent_tensor(path, strict=True)
    except Exception as e:  # truncated / not IDX / bad gzip
        raise ValueError(f'cannot read IDX file {path}: {e!r} (expected '
                         'the Fashion-MNIST IDX format)') from None
    arr = data.numpy()
    if arr.dtype != np.uint8 or arr.ndim != ndim:
        raise ValueError(f'{path}: expected a uint8 IDX array of {ndim} '
                         f'dimension(s), got {arr.dtype} {tuple(arr.shape)}')
    return arr


@DATASETS.register_module()
class FashionMNISTLT(CachedLabelsMixin, LongTailMixin, FashionMNIST):
    """Long-tailed Fashion-MNIST (10 classes, 28x28 grey images).

    Reuses mmpretrain's ``FashionMNIST`` (file names, class names) and its
    IDX reader; ``load_data_list`` is replaced because mmpretrain's only
    looks for extracted files, needs both splits, tries to download them
    and fails with a bare ``AssertionError``.

    Args:
        data_root (str): Folder with the four IDX files (``*.gz`` or
            extracted). Defaults to ``/usr/share/datasets/fashion-mnist``
            (package ``dataset-fashion-mnist``).
        split (str): ``'train'`` (long-tailed) or ``'test'`` (the balanced
            10,000-image test set). Defaults to ``'train'``.
        imbalance_factor (float): n_max / n_min of the train split, >= 1.
            Defaults to 100.
        profile (str): ``'exp'`` or ``'step'``. Defaults to ``'exp'``.
        max_per_class (int, optional): Upper bound of ``n_max`` (the count
            of class 0); None keeps the file's 6,000. Defaults to None.
        channels (int): 3 (grey value copied to 3 channels, HWC, so RGB
            pipelines and backbones apply unchanged) or 1 (HW arrays).
            Defaults to 3.
        **kwargs: ``pipeline``, ``metainfo`` and the other arguments of
            mmpretrain's ``BaseDataset``.

    Raises:
        FileNotFoundError: an IDX file is missing (names the files and the
            install command).
        ValueError: bad arguments; an unreadable IDX file; a label out of
            range; a class left with zero training images.

    Example:
        >>> ds = FashionMNISTLT(imbalance_factor=100, max_per_class=500)
        >>> ds.class_counts.tolist()
        [500, 299, 179, 107, 64, 38, 23, 13, 8, 5]
    """

    def __init__(self,
                 data_root: str = DEFAULT_ROOT,
                 split: str = 'train',
                 imbalance_factor: float = 100,
                 profile: str = 'exp',
                 max_per_class: Optional[int] = None,
                 channels: int = 3,
                 data_prefix: str = '',
                 **kwargs):
        name = type(self).__name__
        if split not in ('train', 'test'):
            raise ValueError(
                f"{name} split must be 'train' or 'test', got {split!r}")
        if profile not in PROFILES:
            raise ValueError(
                f'{name} profile must be one of {PROFILES}, got {profile!r}')
        if max_per_class is not None and (
                isinstance(max_per_class, bool)
                or not isinstance(max_per_class, (int, np.integer))
                or max_per_class < 1):
            raise ValueError(f'{name} max_per_class must be None or an int '
                             f'>= 1, got {max_per_class!r}')
        if channels not in (1, 3):
            raise ValueError(
                f'{name} channels must be 1 or 3, got {channels!r}')
        if not data_root and not data_prefix:
            raise ValueError(f'{name} needs data_root: the folder with the '
                             f'Fashion-MNIST IDX files. {INSTALL_HINT}')
        self.imbalance_factor = check_imbalance_factor(imbalance_factor)
        self.profile = profile
        self.max_per_class = (None if max_per_class is None else
                              int(max_per_class))
        self.channels = int(channels)
        self.profile_counts: Optional[List[int]] = None
        # download=False: never fetch at run time (the parent's default is
        # True, and its load_data_list is not used anyway).
        super().__init__(
            data_root=data_root,
            split=split,
            download=False,
            data_prefix=data_prefix,
            **kwargs)

    def _find(self, filename: str) -> Optional[str]:
        """Path of ``filename`` (``x.gz``) or of its extracted form."""
        root = self.data_prefix['root']
        for cand in (filename, filename[:-3]):
            path = osp.join(root, cand)
            if osp.isfile(path):
                return path
        return None

    def load_data_list(self) -> List[dict]:
        name = type(self).__name__
        files = [f for f, _ in (
            self.train_list if self.split == 'train' else self.test_list)]
        paths = [self._find(f) for f in files]
        missing = [f for f, p in zip(files, paths) if p is None]
        if missing:
            raise FileNotFoundError(
                f'{name} ({self.split} split): Fashion-MNIST IDX file(s) '
                f'{missing} (or their extracted forms) not found in '
                f"{self.data_prefix['root']!r}. {INSTALL_HINT}")
        imgs = read_idx_file(paths[0], ndim=3)
        labels = read_idx_file(paths[1], ndim=1).astype(np.int64)
        if len(imgs) != len(labels):
            raise ValueError(f'{paths[0]} has {len(imgs)} images but '
                             f'{paths[1]} has {len(labels)} labels')
        num_classes = len(self.CLASSES)
        bad = np.flatnonzero(labels >= num_classes)
        if len(bad):
            raise ValueError(f'{paths[1]}: label {int(labels[bad[0]])} of '
                             f'image {int(bad[0])} is out of range for '
                             f'{num_classes} classes')
        if self.split == 'train':
            keep = self._select_long_tail(labels, paths[1])
            imgs, labels = imgs[keep], labels[keep]
        if self.channels == 3:
            imgs = np.repeat(imgs[..., None], 3, axis=-1)
        return [
            dict(img=np.ascontiguousarray(img), gt_label=int(lab))
            for img, lab in zip(imgs, labels)
        ]

    def _select_long_tail(self, labels: np.ndarray, source: str) -> np.ndarray:
        """Indices of the first ``n_i`` images of each class, file order."""
        num_classes = len(self.CLASSES)
        available = np.bincount(labels, minlength=num_classes)
        if available.min() == 0:
            raise ValueError(
                f'{source}: class {int(np.argmin(available))} has no image')
        n_max = int(available.min())  # 6000 for the official files
        if self.max_per_class is not None:
            n_max = min(n_max, self.max_per_class)
        counts = long_tail_counts(n_max, num_classes, self.imbalance_factor,
                                  self.profile)
        empty = [c for c, n in enumerate(counts) if n < 1]
        if empty:
            raise ValueError(
                f'imbalance_factor={self.imbalance_factor:g} leaves classes '
                f'{empty} of {type(self).__name__} with zero training images '
                f'(n_max={n_max}); use imbalance_factor <= {n_max} or a '
                'larger max_per_class')
        self.profile_counts = counts
        return select_first_per_class(labels, counts)

    def extra_repr(self) -> List[str]:
        body = [
            f"Prefix of data: \t{self.data_prefix['root']}",
            f'Split: \t{self.split}',
        ]
        if self.split == 'train':
            body.append(f'Imbalance factor: \t{self.imbalance_factor:g} '
                        f'({self.profile}, max_per_class='
                        f'{self.max_per_class})')
        return body
