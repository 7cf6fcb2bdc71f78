# Copyright (c) ltcls contributors. All rights reserved.
"""Two data streams in one training step (Hybrid-SC / Hybrid-PSC).

The hybrid networks train a contrastive branch on an *instance-balanced*
batch (two augmented views per image) and a cross-entropy branch on an
independent *class-balanced* batch, in the same iteration
(spec_hybrid.md §4.3, §10 "Data plumbing").

Design (chosen over a custom loop that zips two dataloaders):

* :class:`~ltcls.datasets.samplers.DualStreamSampler` yields
  ``(i_feat, i_cls)`` index pairs. Both indices come from one global
  per-epoch sequence derived from ``(seed, epoch)`` and are rank-sliced the
  way mmengine's ``DefaultSampler`` slices, so the instance stream *is*
  ``DefaultSampler(shuffle=True)``'s order and the classifier stream over
  all ranks is one class-balanced sequence.
* :class:`DualStreamDataset` (this file) wraps any classification dataset
  and maps a pair to one packed sample: the feature-branch views of image
  ``i_feat`` followed by the classifier-branch view of image ``i_cls``;
  ``gt_label`` is the feature image's label and ``cls_gt_label`` the
  classifier image's.

Why this way: a single dataloader keeps everything mmengine already does
for the train loop: ``EpochBasedTrainLoop`` / ``DistSamplerSeedHook`` call
``sampler.set_epoch`` (the sampler runs in the main process, so it also
works with ``persistent_workers``), resume restores the epoch and with it
both streams (they are pure functions of ``(seed, epoch)``), the default
``pseudo_collate`` and the multi-view data preprocessor need no change, and
``tools/train.py`` / ``dist_train.sh`` work as is. Zipping two dataloaders
needs a custom loop whose second sampler must be re-seeded and checkpointed
by hand, doubles the worker processes and leaves the epoch length ambiguous.
Epoch length = one pass of the instance stream (§9.14); the classifier
stream draws the same number of samples.

Example config::

    train_dataloader = dict(
        batch_size=512,
        sampler=dict(type='DualStreamSampler'),  # instance + class-balanced
        dataset=dict(
            type='DualStreamDataset',
            dataset=dict(type='CIFAR100LT', ..., pipeline=[]),
            feat_pipeline=[..., dict(type='MultiView', num_views=[1, 1],
                                     transforms=[view1, view2]),
                           dict(type='PackInputs')],
            cls_pipeline=[..., dict(type='PackInputs')]))
"""
import copy
from typing import Callable, List, Sequence, Union

import numpy as np
import torch
from mmengine.dataset import Compose

from ltcls.registry import DATASETS, TRANSFORMS

__all__ = ['DualStreamDataset']


def _build_pipeline(pipeline, name) -> Compose:
    if pipeline is None or isinstance(pipeline, (dict, str)) or \
            not isinstance(pipeline, Sequence):
        raise TypeError(f'DualStreamDataset: {name} must be a list of '
                        f'transforms, got {type(pipeline).__name__}')
    transforms: List[Callable] = []
    for t in pipeline:
        transforms.append(TRANSFORMS.build(t) if isinstance(t, dict) else t)
    return Compose(transforms)


@DATASETS.register_module()
class DualStreamDataset:
    """Pair a feature-branch sample with a classifier-branch sample.

    Index it with ``(i_feat, i_cls)`` pairs from ``DualStreamSampler``.

    Args:
        dataset (dict | BaseDataset): The wrapped dataset, built with an
            empty ``pipeline`` (the two pipelines below replace it).
        feat_pipeline (list): Transforms of the feature (contrastive)
            branch, normally ending with ``MultiView`` and ``PackInputs``.
        cls_pipeline (list): Transforms of the classifier branch (one view),
            ending with ``PackInputs``.
        lazy_init (bool): Defer ``full_init`` of the wrapped dataset.
            Defaults to False.

    A sample is ``dict(inputs=[*feature_views, cls_view],
    data_samples=DataSample)`` with ``gt_label`` (feature image),
    ``cls_gt_label`` (classifier image) and ``cls_sample_idx`` in the
    metainfo; views are (C, H, W) tensors.
    """

    def __init__(self,
                 dataset: Union[dict, object],
                 feat_pipeline: Sequence,
                 cls_pipeline: Sequence,
                 lazy_init: bool = False):
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        for attr in ('get_data_info', 'get_gt_labels', 'metainfo'):
            if not hasattr(dataset, attr):
                raise TypeError(f'DualStreamDataset: the wrapped dataset '
                                f'{type(dataset).__name__} has no {attr}; '
                                'wrap an mmpretrain BaseDataset')
        inner = getattr(dataset, 'pipeline', None)
        if inner is not None and len(getattr(inner, 'transforms', [])) > 0:
            raise ValueError(
                'DualStreamDataset: the wrapped dataset '
                f'{type(dataset).__name__} has a non-empty pipeline, which '
                'would be ignored; set its pipeline=[] and put the transforms '
                'in feat_pipeline / cls_pipeline')
        self.dataset = dataset
        self.feat_pipeline = _build_pipeline(feat_pipeline, 'feat_pipeline')
        self.cls_pipeline = _build_pipeline(cls_pipeline, 'cls_pipeline')
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    # -- the BaseDataset interface the runner, samplers and hooks use --
    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self.dataset.metainfo)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        self._fully_initialized = True

    def get_gt_labels(self) -> np.ndarray:
        return np.asarray(self.dataset.get_gt_labels())

    @property
    def class_counts(self) -> np.ndarray:
        """np.ndarray (num_classes, ): training images per class."""
        if hasattr(self.dataset, 'class_counts'):
            return self.dataset.class_counts
        classes = self.metainfo.get('classes', None)
        return np.bincount(
            self.get_gt_labels().astype(np.int64),
            minlength=len(classes) if classes else 0)

    @property
    def num_classes(self) -> int:
        return len(self.metainfo['classes'])

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(idx)

    def __len__(self) -> int:
        self.full_init()
        return len(self.dataset)

    # -- packing --
    def _run(self, pipeline, idx: int, name: str) -> dict:
        out = pipeline(self.dataset.get_data_info(idx))
        if out is None:
            raise RuntimeError(f'DualStreamDataset: {name} returned None for '
                               f'sample {idx}')
        return out

    def __getitem__(self, idx) -> dict:
        if not (isinstance(idx, (tuple, list)) and len(idx) == 2):
            raise TypeError(
                'DualStreamDataset is indexed by (feature_index, '
                f'classifier_index) pairs, got {idx!r}; set the train '
                "dataloader's sampler=dict(type='DualStreamSampler')")
        self.full_init()
        i_feat, i_cls = int(idx[0]), int(idx[1])
        feat = self._run(self.feat_pipeline, i_feat, 'feat_pipeline')
        cls = self._run(self.cls_pipeline, i_cls, 'cls_pipeline')
        views = feat['inputs']
        views = list(views) if isinstance(views, (list, tuple)) else [views]
        cls_view = cls['inputs']
        if not isinstance(cls_view, torch.Tensor):
            raise TypeError('DualStreamDataset: cls_pipeline must produce '
                            'a single view (one tensor), got '
                            f'{type(cls_view).__name__}')
        sample = feat['data_samples']
        cls_sample = cls['data_samples']
        if 'gt_label' not in cls_sample:
            raise ValueError(f'DualStreamDataset: sample {i_cls} has no '
                             'gt_label after cls_pipeline')
        sample.set_field(
            cls_sample.gt_label, 'cls_gt_label', dtype=torch.Tensor)
        sample.set_metainfo(dict(cls_sample_idx=i_cls))
        return dict(inputs=views + [cls_view], data_samples=sample)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(dataset={type(self.dataset).__name__}'
                f', num_samples={len(self)})')
