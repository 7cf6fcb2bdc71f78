# Copyright (c) ltcls contributors. All rights reserved.
"""A classification data preprocessor that also accepts multi-view batches.

Why not one of mmpretrain's? ``ClsDataPreprocessor`` treats a list input as
one tensor per *sample* (``pseudo_collate``) and so cannot take the view
lists that ``MultiView`` produces; ``SelfSupDataPreprocessor`` treats every
list as a list of *views*, so a validation batch collated by mmengine's
default ``pseudo_collate`` (a list of per-sample tensors) is misread, and it
does not batch the labels. The contrastive long-tailed methods train on
views and are evaluated like a plain classifier, so they need both.
"""
from typing import List, Optional, Sequence

import torch
from mmpretrain.models.utils.data_preprocessor import ClsDataPreprocessor

from ltcls.registry import MODELS

__all__ = ['MultiViewClsDataPreprocessor']


def _split_views(inputs) -> Optional[list]:
    """Return the per-view inputs of a multi-view batch, else ``None``.

    Recognised layouts (B samples, V views):

    * ``pseudo_collate`` (mmengine's default) of ``MultiView``: it
      transposes the per-sample view lists, so the batch is a list of V
      lists of B tensors (C, H, W) -> returned as is (V lists);
    * ``default_collate`` of ``MultiView``: a list of V tensors (B, C, H, W)
      -> returned as is.

    A tensor (B, C, H, W) or a list of per-sample tensors (C, H, W) is a
    single-view batch (``None``).
    """
    if isinstance(inputs, torch.Tensor) or len(inputs) == 0:
        return None
    first = inputs[0]
    if isinstance(first, (list, tuple)):
        batch = len(first)
        for v, view in enumerate(inputs):
            if not isinstance(view, (list, tuple)) or len(view) != batch:
                raise ValueError(
                    'MultiViewClsDataPreprocessor: a pseudo-collated '
                    f'multi-view batch must be V lists of {batch} per-sample '
                    f'tensors; view {v} is {type(view).__name__} of length '
                    f'{len(view) if hasattr(view, "__len__") else "?"}')
        return [list(view) for view in inputs]
    if isinstance(first, torch.Tensor) and first.dim() == 4:
        return list(inputs)
    return None


@MODELS.register_module()
class MultiViewClsDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` that also handles ``MultiView`` batches.

    Single-view batches (validation / test, or a plain training pipeline)
    are processed exactly as by :class:`ClsDataPreprocessor` and give a
    tensor (B, C, H, W). Multi-view batches give a list of V tensors
    (B, C, H, W), one per view, each normalised like a single-view batch;
    the labels of the data samples are batched once.

    Batch augmentations (Mixup / CutMix) are only applied to single-view
    batches; with multi-view training input they raise an error, because
    mixing views independently would break the positive pairs.

    Args are those of :class:`ClsDataPreprocessor`.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise and stack one batch.

        Args:
            data (dict): ``inputs`` (tensor, list of per-sample tensors, or a
                multi-view layout, see :func:`_split_views`) and
                ``data_samples``.
            training (bool): Whether in training mode.

        Returns:
            dict: ``inputs`` (Tensor (B, C, H, W) or list of V such tensors)
            and ``data_samples``.
        """
        views = _split_views(data['inputs'])
        if views is None:
            return super().forward(data, training)
        if training and self.batch_augments is not None:
            raise ValueError(
                'MultiViewClsDataPreprocessor: batch_augments (Mixup/CutMix) '
                'are not supported with multi-view inputs; remove '
                '`batch_augments` / `train_cfg.augments` from the config')
        data_samples = data.get('data_samples', None)
        out_views: List[torch.Tensor] = []
        for v, view in enumerate(views):
            res = super().forward(
                dict(
                    inputs=view,
                    data_samples=data_samples if v == 0 else None), training)
            if v == 0:
                data_samples = res['data_samples']
            out_views.append(res['inputs'])
        _check_same_batch(out_views)
        return {'inputs': out_views, 'data_samples': data_samples}


def _check_same_batch(views: Sequence[torch.Tensor]) -> None:
    sizes = {int(v.shape[0]) for v in views}
    if len(sizes) != 1:
        raise ValueError('MultiViewClsDataPreprocessor: views have different '
                         f'batch sizes {sorted(sizes)}')
