# Copyright (c) ltcls contributors. All rights reserved.
"""CIFAR-10-LT and CIFAR-100-LT (LDAM / BBN protocol).

Built from the standard CIFAR "python version" pickles users already have
(``cifar-10-batches-py/`` or ``cifar-100-python/`` under ``data_root``); no
download unless ``download=True``.

Per-class training counts: ``n_i = int(n_max * IF ** (-i / (C - 1)))``
(``'exp'``) or ``n_max`` / ``int(n_max / IF)`` for the first / second half
of the classes (``'step'``), with ``n_max`` = 5000 (CIFAR-10) or 500
(CIFAR-100); see :func:`ltcls.datasets.long_tail_counts`. CIFAR-100-LT with
IF 100 has 10,847 images (500..5 per class), CIFAR-10-LT IF 100 has 12,406.

Which ``n_i`` images of class ``i`` are kept (``selection``):

- ``'file_order'`` (default, as the ltcls issue specifies): the first
  ``n_i`` images of the class in the order of the pickle files; the kept
  images stay in file order.
- ``'ldam_shuffle'``: exactly the subset of the LDAM-DRW / BBN reference
  code (and of PaCo, ResCom, SBCL, which copy it; spec_rescom.md §5,
  spec_paco.md, spec_sbcl.md): ``np.random.seed(seed)`` once, then for each
  class in order shuffle that class's indices and keep the first ``n_i``;
  the kept images are grouped by class (class 0 first), as in that code.

Both give the same per-class counts; only the identity of the images
differs. The test split is always the full, balanced CIFAR test set.
"""
import pickle
from typing import List, Optional

import mmengine.dist as dist
import numpy as np
from mmengine.fileio import (LocalBackend, exists, get, get_file_backend,
                             join_path)
from mmpretrain.datasets.cifar import CIFAR10, CIFAR100
from mmpretrain.datasets.utils import check_md5, download_and_extract_archive

from ltcls.registry import DATASETS
from .long_tail import (PROFILES, LongTailMixin, check_imbalance_factor,
                        check_no_empty_class, long_tail_counts,
                        select_first_per_class)
from .txt_lt import CachedLabelsMixin

__all__ = ['CIFAR10LT', 'CIFAR100LT']

SELECTIONS = ('file_order', 'ldam_shuffle')


def check_cifar_imbalance_factor(imbalance_factor) -> float:
    """``check_imbalance_factor`` with a hint for the LDAM-code form
    ``imb_factor = 1 / IF`` (e.g. 0.01 for IF 100)."""
    if isinstance(imbalance_factor, (int, float)) and not isinstance(
            imbalance_factor, bool) and 0 < imbalance_factor < 1:
        raise ValueError(
            f'imbalance_factor must be >= 1 (n_max / n_min), got '
            f'{imbalance_factor!r}; this looks like the LDAM-code form '
            f'imb_factor = 1 / IF: use imbalance_factor='
            f'{1.0 / imbalance_factor:g}')
    return check_imbalance_factor(imbalance_factor)


def read_cifar_pickle(path: str, label_key: str, num_classes: int):
    """Read one CIFAR python pickle.

    Accepts the official files (Python-2 pickles whose keys load as ``str``
    with ``encoding='latin1'``) and re-pickled ones with ``bytes`` keys
    (``b'data'``, ``b'labels'`` / ``b'fine_labels'``).

    Returns:
        tuple: images (np.ndarray uint8 (N, 32, 32, 3), RGB) and labels
        (np.ndarray int64 (N,)).
    """
    try:
        entry = pickle.loads(get(path), encoding='latin1')
    except Exception as e:  # corrupt / truncated / not a pickle
        raise ValueError(f'cannot read CIFAR pickle {path}: {e!r}') from None
    if not isinstance(entry, dict):
        raise ValueError(
            f'{path}: expected a dict, got {type(entry).__name__}')
    entry = {
        k.decode('latin1') if isinstance(k, bytes) else k: v
        for k, v in entry.items()
    }
    if 'data' not in entry or label_key not in entry:
        raise ValueError(f'{path}: expected keys "data" and "{label_key}", '
                         f'found {sorted(map(str, entry))}')
    data = np.asarray(entry['data'])
    labels = np.asarray(entry[label_key])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f'{path}: "data" must be uint8 of shape (N, 3072), '
                         f'got {data.dtype} {data.shape}')
    if labels.ndim != 1 or len(labels) != len(data) or (
            len(labels) and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f'{path}: "{label_key}" must hold {len(data)} '
                         f'integer labels, got {labels.dtype} {labels.shape}')
    labels = labels.astype(np.int64)
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if len(bad):
        raise ValueError(f'{path}: label {int(labels[bad[0]])} of image '
                         f'{int(bad[0])} is out of range for {num_classes} '
                         'classes')
    imgs = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # HWC, RGB
    return imgs, labels


@DATASETS.register_module()
class CIFAR10LT(CachedLabelsMixin, LongTailMixin, CIFAR10):
    """Long-tailed CIFAR-10 (LDAM / BBN protocol).

    Reuses mmpretrain's ``CIFAR10`` (file layout, URL, md5 sums, class
    names); ``load_data_list`` is replaced because mmpretrain's requires
    every file of both splits, md5-checks them on each construction and
    raises an unclear ``AssertionError``/``RuntimeError`` on missing files.

    Args:
        data_root (str): Folder containing ``cifar-10-batches-py/``.
        split (str): ``'train'`` (long-tailed) or ``'test'`` (the full
            balanced test set). Defaults to ``'train'``.
        imbalance_factor (float): n_max / n_min of the train split, >= 1
            (10, 50, 100, 200 in the papers; 1 = the full train set). The
            LDAM-code form 0.01 is rejected with a hint. Defaults to 100.
        profile (str): ``'exp'`` or ``'step'``. Defaults to ``'exp'``.
        selection (str): ``'file_order'`` or ``'ldam_shuffle'`` (see the
            module docstring). Defaults to ``'file_order'``.
        seed (int): Seed of ``'ldam_shuffle'`` (LDAM's ``rand_number``).
            Defaults to 0.
        download (bool): Download and extract the archive when a pickle is
            missing. Defaults to False.
        check_md5 (bool): Compare the pickles with the official md5 sums.
            Defaults to False.
        **kwargs: ``metainfo``, ``data_prefix``, ``test_mode``, ``pipeline``
            and the other arguments of mmpretrain's ``CIFAR10``.

    Raises:
        FileNotFoundError: a pickle is missing (names the expected path).
        ValueError: ``imbalance_factor < 1``; an unknown profile/selection;
            a label out of range; a class left with zero training images.

    Example:
        >>> ds = CIFAR10LT(data_root='data/cifar10', imbalance_factor=100)
        >>> ds.class_counts.tolist()
        [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    """

    label_key = 'labels'
    n_max_official = 5000

    def __init__(self,
                 data_root: str = '',
                 split: str = 'train',
                 imbalance_factor: float = 100,
                 profile: str = 'exp',
                 selection: str = 'file_order',
                 seed: int = 0,
                 download: bool = False,
                 check_md5: bool = False,
                 data_prefix: str = '',
                 **kwargs):
        name = type(self).__name__
        if split not in ('train', 'test'):
            raise ValueError(
                f"{name} split must be 'train' or 'test', got {split!r}")
        if profile not in PROFILES:
            raise ValueError(
                f'{name} profile must be one of {PROFILES}, got {profile!r}')
        if selection not in SELECTIONS:
            raise ValueError(f'{name} selection must be one of {SELECTIONS}, '
                             f'got {selection!r}')
        if not data_root and not data_prefix:
            raise ValueError(f'{name} needs data_root: the folder that '
                             f'contains {self.base_folder}/')
        self.imbalance_factor = check_cifar_imbalance_factor(imbalance_factor)
        self.profile = profile
        self.selection = selection
        self.seed = int(seed)
        self.check_md5 = bool(check_md5)
        self.profile_counts: Optional[List[int]] = None
        super().__init__(
            data_root=data_root,
            split=split,
            download=download,
            data_prefix=data_prefix,
            **kwargs)

    @classmethod
    def official_counts(cls,
                        imbalance_factor: float,
                        profile: str = 'exp') -> List[int]:
        """Per-class train counts for the official CIFAR files (n_max =
        5000 or 500), without reading any data."""
        num_classes = len(cls.METAINFO['classes'])
        return long_tail_counts(cls.n_max_official, num_classes,
                                check_cifar_imbalance_factor(imbalance_factor),
                                profile)

    def _split_paths(self) -> List[tuple]:
        root = self.data_prefix['root']
        files = self.train_list if self.split == 'train' else self.test_list
        return [(join_path(root, self.base_folder, f), md5)
                for f, md5 in files]

    def load_data_list(self) -> List[dict]:
        name = type(self).__name__
        num_classes = len(self.CLASSES)
        expected = len(self.METAINFO['classes'])
        if num_classes != expected:
            raise ValueError(f'{name} has {expected} classes but metainfo '
                             f'gives {num_classes} class names')
        paths = self._split_paths()
        missing = [p for p, _ in paths if not exists(p)]
        if missing and self.download:
            root = self.data_prefix['root']
            if not isinstance(
                    get_file_backend(root, enable_singleton=True),
                    LocalBackend):
                raise RuntimeError(f'{name}: cannot download to {root}')
            if dist.is_main_process():
                download_and_extract_archive(
                    self.url, root, filename=self.filename, md5=self.tgz_md5)
            dist.barrier()
            missing = [p for p, _ in paths if not exists(p)]
        if missing:
            raise FileNotFoundError(
                f'{name} ({self.split} split): CIFAR python pickle(s) not '
                f'found: {missing}. data_root must contain '
                f'{self.base_folder}/ extracted from {self.filename} '
                f'({self.url}); or pass download=True')
        if self.check_md5:
            for p, md5 in paths:
                if not check_md5(p, md5):
                    raise ValueError(f'{p} does not match the md5 {md5} of '
                                     'the official CIFAR file')

        parts = [
            read_cifar_pickle(p, self.label_key, num_classes) for p, _ in paths
        ]
        imgs = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        source = ', '.join(p for p, _ in paths)

        if self.split == 'train':
            keep = self._select_long_tail(labels, source)
            imgs, labels = imgs[keep], labels[keep]
        return [
            dict(img=img, gt_label=int(lab)) for img, lab in zip(imgs, labels)
        ]

    def _select_long_tail(self, labels: np.ndarray, source: str) -> np.ndarray:
        """Indices of the long-tailed train subset (see module docstring)."""
        num_classes = len(self.CLASSES)
        available = np.bincount(labels, minlength=num_classes)
        if available.min() == 0:
            raise ValueError(
                f'{source}: class {int(np.argmin(available))} has no image')
        # = 5000 / 500 for the official (balanced) files, as len(data) / C
        # in the LDAM code.
        n_max = int(available.min())
        counts = long_tail_counts(n_max, num_classes, self.imbalance_factor,
                                  self.profile)
        check_no_empty_class(
            counts, f'{type(self).__name__}: imbalance_factor='
            f'{self.imbalance_factor:g} (n_max={n_max})',
            f'use imbalance_factor <= {n_max}')
        self.profile_counts = counts
        if self.selection == 'file_order':
            return select_first_per_class(labels, counts)
        # 'ldam_shuffle': LDAM-DRW imbalance_cifar.py gen_imbalanced_data
        # (np.random.seed(rand_number) once; RandomState(seed) draws the
        # same stream without touching the global numpy state).
        rng = np.random.RandomState(self.seed)
        keep = []
        for c, n in enumerate(counts):
            idx = np.flatnonzero(labels == c)
            rng.shuffle(idx)
            keep.append(idx[:n])
        return np.concatenate(keep)

    def extra_repr(self) -> List[str]:
        body = [
            f"Prefix of data: \t{self.data_prefix['root']}",
            f'Split: \t{self.split}',
        ]
        if self.split == 'train':
            body.append(f'Imbalance factor: \t{self.imbalance_factor:g} '
                        f'({self.profile}, {self.selection})')
        return body


@DATASETS.register_module()
class CIFAR100LT(CIFAR10LT, CIFAR100):
    """Long-tailed CIFAR-100 (LDAM / BBN protocol), from
    ``cifar-100-python/`` (``train``, ``test``; labels ``fine_labels``).

    Same arguments as :class:`CIFAR10LT`; the file layout, URL, md5 sums and
    class names come from mmpretrain's ``CIFAR100``. With
    ``imbalance_factor=100`` the train split has 10,847 images, 500
    (class 0) down to 5 (class 99).
    """

    label_key = 'fine_labels'
    n_max_official = 500
