# Copyright (c) ltcls contributors. All rights reserved.
"""Long-tailed datasets read from split files: ImageNet-LT, Places-LT and
iNaturalist 2018.

The LT papers (OLTR, decoupling, PaCo, ResCom, KCL, SBCL...) ship their
splits as list files with one ``relative/path.jpg label`` line per image,
e.g. ``ImageNet_LT_train.txt``::

    train/n01440764/n01440764_190.JPEG 0

``INaturalist2018`` also reads the official iNat 2018 JSON files
(``train2018.json`` / ``val2018.json``: COCO-style ``images``,
``annotations`` and ``categories``); the label of an image is its
``category_id`` (0..8141), which is the label the list files use too.
"""
import json
import os.path as osp
import re
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.fileio import (LocalBackend, exists, get_file_backend, get_text,
                             join_path)
from mmengine.logging import MMLogger
from mmpretrain.datasets.base_dataset import BaseDataset
from mmpretrain.datasets.categories import IMAGENET_CATEGORIES

from ltcls.registry import DATASETS
from .long_tail import LongTailMixin, check_no_empty_class

__all__ = [
    'CachedLabelsMixin', 'LongTailTxtDataset', 'ImageNetLT', 'PlacesLT',
    'INaturalist2018'
]


class CachedLabelsMixin:
    """Fast ``get_gt_labels`` / ``get_cat_ids`` for single-label datasets.

    mmpretrain's ``BaseDataset.get_gt_labels`` de-serialises every data info
    on each call, and ``class_counts`` (read by losses, metrics, samplers and
    hooks) calls it again each time; on iNaturalist (437K images) that is
    seconds per call. The labels are gathered once, on first use, and the
    cache is dropped when ``get_subset``/``get_subset_`` change the data.
    """

    _gt_labels_cache: Optional[np.ndarray] = None

    def _cached_gt_labels(self) -> np.ndarray:
        n = len(self)  # forces full_init()
        cache = self._gt_labels_cache
        if cache is None or len(cache) != n:
            cache = np.array(
                [int(self.get_data_info(i)['gt_label']) for i in range(n)],
                dtype=np.int64)
            self._gt_labels_cache = cache
        return cache

    def get_gt_labels(self) -> np.ndarray:
        """np.ndarray of shape (N,): the label of every sample."""
        return self._cached_gt_labels().copy()

    def get_cat_ids(self, idx: int) -> List[int]:
        """The category of sample ``idx`` as a one-element list (the
        interface of mmengine/mmdet samplers)."""
        return [int(self._cached_gt_labels()[idx])]

    def get_subset_(self, indices: Union[Sequence[int], int]) -> None:
        super().get_subset_(indices)
        self._gt_labels_cache = None

    def get_subset(self, indices: Union[Sequence[int], int]):
        sub = super().get_subset(indices)
        sub._gt_labels_cache = None
        return sub


#: a WordNet id folder or file-name prefix (ImageNet's n01440764)
_WNID = re.compile(r'(?:^|/)(n\d{8})(?:/|_)')


def _is_local(path: str) -> bool:
    return isinstance(
        get_file_backend(path, enable_singleton=True), LocalBackend)


@DATASETS.register_module()
class LongTailTxtDataset(CachedLabelsMixin, LongTailMixin, BaseDataset):
    """A classification dataset read from a ``path label`` list file.

    Each non-empty line of ``ann_file`` is ``<relative/image/path> <label>``
    (separated by white space; the label is the last field, so paths may
    contain spaces). Image paths are joined to ``data_prefix`` (itself
    joined to ``data_root`` when relative). Labels must lie in
    ``[0, num_classes)``.

    Args:
        ann_file (str): The list file, relative to ``data_root`` or absolute.
        data_root (str): Root folder of the split files and images.
            Defaults to ''.
        data_prefix (str | dict): Image folder, relative to ``data_root``
            (or ``dict(img_path=...)``). Defaults to '' (= ``data_root``).
        num_classes (int, optional): Number of classes. Defaults to the
            class attribute ``NUM_CLASSES`` of the subclass, or the length
            of ``classes`` / ``metainfo['classes']``.
        check_files (bool): Check at construction that every image file
            exists (one ``exists`` call per image). Defaults to False: a
            missing or corrupt file is reported when it is loaded (use
            ``LoadImageFromFileStrict``).
        allow_absolute_paths (bool): Accept listed image paths that are
            absolute (``/x.jpg``, ``s3://...``) or leave ``data_prefix``
            (``../x.jpg``); they are then used as they are. Defaults to
            False: such a line is an error naming ``file:line``, because it
            silently bypasses ``data_root`` (BalFeat's ImageNet-LT lists
            start with ``/``; strip it or set this flag).
        allow_empty_classes (bool): Accept a list in which a class has no
            image (with a warning). Defaults to False: refused, with the
            class ids named (see ``check_no_empty_class``).
        **kwargs: Passed to mmpretrain's ``BaseDataset`` (``pipeline``,
            ``metainfo``, ``classes``, ``test_mode``, ``indices``...).

    Attributes exposed to samplers/losses/metrics: ``class_counts``
    (np.ndarray (num_classes,)), ``get_gt_labels()``, ``get_cat_ids(idx)``.

    Raises:
        FileNotFoundError: ``data_root`` or ``ann_file`` does not exist (the
            message names the path).
        ValueError: a malformed line (``file:line``), a label out of range,
            or class names inconsistent with ``num_classes``.
    """

    NUM_CLASSES: Optional[int] = None
    #: Subclasses whose list files put every image in a class folder (Places
    #: 365, iNat) take their class names from the listed paths.
    CLASS_NAMES_FROM_PATHS = False
    #: Leading path components that are split / archive folders, not classes
    SPLIT_FOLDERS = ('train', 'val', 'test', 'data_256', 'data_large',
                     'train_256', 'val_256', 'test_256', 'train_val2018',
                     'train_val_images', 'images')

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 data_prefix: Union[str, dict] = '',
                 num_classes: Optional[int] = None,
                 metainfo: Optional[dict] = None,
                 classes: Union[str, Sequence[str], None] = None,
                 check_files: bool = False,
                 allow_absolute_paths: bool = False,
                 allow_empty_classes: bool = False,
                 **kwargs):
        name = type(self).__name__
        self.allow_absolute_paths = bool(allow_absolute_paths)
        if not ann_file:
            raise ValueError(f'{name} needs ann_file (a "path label" list '
                             'file, e.g. ImageNet_LT_train.txt)')
        if data_root and _is_local(data_root) and not osp.isdir(data_root):
            raise FileNotFoundError(
                f'{name}: data_root {data_root!r} does not exist or is not '
                'a directory')
        self.check_files = bool(check_files)
        self.allow_empty_classes = bool(allow_empty_classes)

        metainfo = self._compat_classes(metainfo, classes)
        user_classes = metainfo.get('classes', None)
        if isinstance(user_classes, str):
            raise TypeError(f'{name}: metainfo["classes"] must be a sequence '
                            'of names, got a string')
        if num_classes is None:
            num_classes = self.NUM_CLASSES
        if num_classes is None:
            if user_classes is None:
                raise ValueError(
                    f'{name} needs num_classes (or class names in classes=/'
                    'metainfo["classes"])')
            num_classes = len(user_classes)
        valid = isinstance(num_classes, (int, np.integer)) and not isinstance(
            num_classes, bool) and num_classes >= 1
        if not valid:
            raise ValueError(f'{name}: num_classes must be a positive int, '
                             f'got {num_classes!r}')
        self._num_classes = int(num_classes)
        if user_classes is not None and len(user_classes) != num_classes:
            raise ValueError(
                f'{name}: {len(user_classes)} class names were given but '
                f'num_classes={num_classes}')
        # Class names: the user's, else the subclass's METAINFO when it has
        # the right length, else '0'..'C-1' (possibly replaced by the names
        # of an iNat JSON file in load_data_list).
        self._default_class_names = user_classes is None
        if user_classes is None:
            default = (self.METAINFO or {}).get('classes', None)
            if default is None or len(default) != num_classes:
                default = tuple(str(i) for i in range(num_classes))
            metainfo = {**metainfo, 'classes': tuple(default)}
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    @property
    def num_classes(self) -> int:
        return self._num_classes

    # ------------------------------------------------------------------ io
    def load_data_list(self) -> List[dict]:
        name = type(self).__name__
        if not exists(self.ann_file):
            raise FileNotFoundError(
                f'{name}: annotation file {self.ann_file} not found '
                f'(data_root={self.data_root!r})')
        if self.ann_file.lower().endswith('.json'):
            samples = self._parse_json(self.ann_file)
        else:
            samples = self._parse_list(self.ann_file)
        prefix = self.img_prefix
        data_list = [
            dict(
                # a URL (allow_absolute_paths) is used as it is
                img_path=join_path(prefix, rel)
                if prefix and '://' not in rel else rel,
                gt_label=label) for rel, label in samples
        ]
        if self.check_files:
            missing = [
                d['img_path'] for d in data_list if not exists(d['img_path'])
            ]
            if missing:
                raise FileNotFoundError(
                    f'{name}: {len(missing)} image file(s) listed in '
                    f'{self.ann_file} do not exist, e.g. {missing[:3]}')
        labels = np.array([lab for _, lab in samples], dtype=np.int64)
        counts = np.bincount(labels, minlength=self.num_classes)
        if not self.allow_empty_classes:
            check_no_empty_class(
                counts, f'{name}: {self.ann_file}',
                'every class needs an image (fix the list or num_classes; '
                'allow_empty_classes=True accepts it, e.g. for an '
                'evaluation subset)')
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            MMLogger.get_current_instance().warning(
                f'{name}: {len(empty)} of {self.num_classes} classes have no '
                f'image in {self.ann_file} (first: {empty[:5].tolist()})')
        return data_list

    def _check_path(self, rel: str, where: str) -> str:
        """Refuse a listed path that would not be read under
        ``data_prefix``: absolute, a URL, or climbing out with ``..``."""
        if self.allow_absolute_paths:
            return rel
        problem = None
        if osp.isabs(rel) or rel.startswith('\\'):
            problem = 'is absolute'
        elif '://' in rel:
            problem = 'is a URL'
        elif osp.normpath(rel).split(osp.sep)[0] == '..':
            problem = "leaves the image folder ('..')"
        if problem is None:
            return rel
        raise ValueError(
            f'{where}: image path {rel!r} {problem}, so it would bypass '
            f'data_root/data_prefix ({self.img_prefix!r}); list paths '
            'relative to data_prefix (e.g. strip the leading "/"), or pass '
            'allow_absolute_paths=True to use them as they are')

    def _set_class_names_from_paths(self, samples, path: str) -> None:
        """Use the class folder of the listed paths as class names, when
        no names were given and every label has one folder of its own.

        The folder is the path's directory without leading split folders
        (:attr:`SPLIT_FOLDERS`) and Places365's one-letter buckets:
        ``train/airfield/1.jpg`` and ``data_256/a/airfield/1.jpg`` name
        ``'airfield'``, ``train/apartment_building/outdoor/1.jpg``
        ``'apartment_building/outdoor'``, iNat's
        ``train_val2018/Plantae/7477/x.jpg`` ``'Plantae/7477'``. If a
        class has no image, or a label has two folders, or two labels share
        one, the names stay ``'0'..'C-1'`` (with a warning).
        """
        if not (self.CLASS_NAMES_FROM_PATHS and self._default_class_names):
            return
        names = {}
        problem = None
        for rel, label in samples:
            parts = [p for p in rel.replace('\\', '/').split('/')[:-1] if p]
            while parts and (parts[0] in self.SPLIT_FOLDERS
                             or parts[0] in ('.', '')):
                parts = parts[1:]
            if parts and len(parts[0]) == 1 and len(parts) > 1:
                parts = parts[1:]  # Places365 bucket folder a/, b/, ...
            folder = '/'.join(parts)
            if not folder:
                problem = f'{rel!r} has no class folder'
                break
            if names.setdefault(label, folder) != folder:
                problem = (f'label {label} is listed under two folders '
                           f'({names[label]!r} and {folder!r})')
                break
        if problem is None and len(names) != self.num_classes:
            problem = (f'{self.num_classes - len(names)} classes have no '
                       'image')
        if problem is None and len(set(names.values())) != len(names):
            problem = 'two labels share a class folder'
        if problem is not None:
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: class names stay "0".."C-1": '
                f'{problem} in {path}')
            return
        self._metainfo['classes'] = tuple(names[i]
                                          for i in range(self.num_classes))

    def _check_label(self, label: int, where: str) -> int:
        if not 0 <= label < self.num_classes:
            raise ValueError(f'{where}: label {label} is out of range for '
                             f'num_classes={self.num_classes}')
        return label

    def _parse_list(self, path: str) -> List[tuple]:
        samples = []
        for lineno, line in enumerate(get_text(path).splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            fields = line.rsplit(maxsplit=1)
            label = None
            if len(fields) == 2:
                try:
                    label = int(fields[1])
                except ValueError:
                    pass
            if label is None:
                raise ValueError(
                    f'{path}:{lineno}: malformed line {line!r}; expected '
                    '"<relative/image/path> <integer label>"')
            where = f'{path}:{lineno}'
            samples.append((self._check_path(fields[0], where),
                            self._check_label(label, where)))
        if not samples:
            raise ValueError(f'{path}: no "path label" line found')
        self._set_class_names_from_paths(samples, path)
        return samples

    def _parse_json(self, path: str) -> List[tuple]:
        """iNat 2018 official JSON: ``images`` (``id``, ``file_name``),
        ``annotations`` (``image_id``, ``category_id``), ``categories``."""
        try:
            data = json.loads(get_text(path))
        except json.JSONDecodeError as e:
            raise ValueError(f'{path}: invalid JSON ({e})') from None
        if not isinstance(data, dict) or not isinstance(
                data.get('images'), list):
            raise ValueError(f'{path}: expected a COCO-style JSON object with '
                             'an "images" list (iNat 2018 format)')
        anns = data.get('annotations') or []
        if not anns:
            raise ValueError(
                f'{path} has no "annotations" (the iNat 2018 test split has '
                'no public labels; use train2018.json / val2018.json)')
        try:
            id2label = {}
            for k, ann in enumerate(anns):
                iid, cat = ann['image_id'], int(ann['category_id'])
                if id2label.get(iid, cat) != cat:
                    raise ValueError(
                        f'{path}: image id {iid} has two category ids '
                        f'({id2label[iid]} and {cat})')
                id2label[iid] = self._check_label(cat,
                                                  f'{path}: annotations[{k}]')
            samples = []
            for img in data['images']:
                if img['id'] not in id2label:
                    raise ValueError(f'{path}: image id {img["id"]} '
                                     f'({img["file_name"]}) has no annotation')
                samples.append(
                    (self._check_path(img['file_name'],
                                      f'{path}: image id {img["id"]}'),
                     id2label[img['id']]))
            cats = data.get('categories') or []
            names = {int(c['id']): str(c['name']) for c in cats}
        except (KeyError, TypeError) as e:
            raise ValueError(f'{path}: malformed iNat JSON entry ({e!r})') \
                from None
        if self._default_class_names and set(names) == set(
                range(self.num_classes)):
            self._metainfo['classes'] = tuple(names[i]
                                              for i in range(self.num_classes))
        return samples

    def extra_repr(self) -> List[str]:
        return [
            f'Annotation file: \t{self.ann_file}',
            f'Prefix of images: \t{self.img_prefix}',
            f'Number of classes: \t{self.num_classes}',
        ]


@DATASETS.register_module()
class ImageNetLT(LongTailTxtDataset):
    """ImageNet-LT (Liu et al. 2019): 1,000 classes, 115.8K training images
    (1,280..5 per class), from ``ImageNet_LT_{train,val,test}.txt``.

    The lists' labels follow the standard sorted-WNID order, which is the
    order of mmpretrain's ``IMAGENET_CATEGORIES`` (used as class names).
    Image paths (``train/n01440764/...``, ``val/n01440764/...``) are relative
    to ``data_prefix``: the folder holding ImageNet's class-foldered
    ``train/`` and ``val/`` (``data_root`` by default).

    Example:
        >>> ds = ImageNetLT(data_root='data/ImageNet_LT',
        ...                 ann_file='ImageNet_LT_train.txt')
    """
    NUM_CLASSES = 1000
    METAINFO = {'classes': IMAGENET_CATEGORIES}

    def _set_class_names_from_paths(self, samples, path: str) -> None:
        """Check that the WordNet ids in the listed paths
        (``train/n01440764/...``) follow the sorted-WNID label order that
        ``IMAGENET_CATEGORIES`` assumes; if they do not, the names would be
        wrong, so the WNIDs (or '0'..'999') are used instead, with a
        warning."""
        if not self._default_class_names:
            return
        wnid_of = {}
        for rel, label in samples:
            match = _WNID.search(rel)
            if match is None:
                return  # not WNID folders: nothing to check
            if wnid_of.setdefault(label, match.group(1)) != match.group(1):
                break
        else:
            ordered = sorted(wnid_of, key=wnid_of.get)
            if ordered == sorted(wnid_of):
                return  # labels increase with the WNID: the names fit
        if len(wnid_of) == self.num_classes and len(set(
                wnid_of.values())) == self.num_classes:
            names = tuple(wnid_of[i] for i in range(self.num_classes))
        else:
            names = tuple(str(i) for i in range(self.num_classes))
        MMLogger.get_current_instance().warning(
            f'{path}: the labels do not follow the sorted WordNet-id order '
            "of mmpretrain's IMAGENET_CATEGORIES; class names are "
            f'{names[0]!r}.. instead of the ImageNet category names')
        self._metainfo['classes'] = names


@DATASETS.register_module()
class PlacesLT(LongTailTxtDataset):
    """Places-LT (Liu et al. 2019): 365 classes, 62,500 training images
    (4,980..5 per class), from ``Places_LT_{train,val,test}.txt``; paths are
    relative to the Places365-standard image folder (``data_prefix``).

    Class names are the class folders of the listed paths
    (``train/airfield/...`` -> ``'airfield'``), see
    :meth:`LongTailTxtDataset._set_class_names_from_paths`."""
    NUM_CLASSES = 365
    CLASS_NAMES_FROM_PATHS = True


@DATASETS.register_module()
class INaturalist2018(LongTailTxtDataset):
    """iNaturalist 2018: 8,142 classes, 437,513 training and 24,426
    validation images.

    ``ann_file`` is either a list file of the LT papers
    (``iNaturalist18_train.txt``: ``train_val2018/<...>.jpg <label>``) or the
    official ``train2018.json`` / ``val2018.json`` (chosen by the ``.json``
    suffix; label = ``category_id``; class names from ``categories``). With a
    list file the class names are the listed folders
    (``train_val2018/Plantae/7477/x.jpg`` -> ``'Plantae/7477'``).
    """
    NUM_CLASSES = 8142
    CLASS_NAMES_FROM_PATHS = True
