# Copyright (c) ltcls contributors. All rights reserved.
"""MultiViewClsDataPreprocessor with real MultiView batches."""
import pytest
import torch
from mmengine.dataset import default_collate, pseudo_collate
from mmpretrain.models.utils.data_preprocessor import ClsDataPreprocessor

from ltcls.registry import DATASETS, MODELS

MEAN, STD = [10., 20., 30.], [2., 3., 4.]


@pytest.fixture(scope='module')
def two_view_samples():
    view = [dict(type='RandomFlip', prob=0.5, direction='horizontal')]
    ds = DATASETS.build(
        dict(
            type='DigitsLT',
            split='test',
            pipeline=[
                dict(type='MultiView', num_views=2, transforms=[view]),
                dict(type='PackInputs')
            ]))
    return [ds[i] for i in range(0, 500, 83)]  # 7 samples, mixed labels


def _build(**kwargs):
    return MODELS.build(
        dict(
            type='MultiViewClsDataPreprocessor', mean=MEAN, std=STD, **kwargs))


def _expected_view(samples, v):
    imgs = torch.stack([s['inputs'][v] for s in samples]).float()
    return (imgs - torch.tensor(MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(STD).view(1, 3, 1, 1)


@pytest.mark.parametrize('collate', [pseudo_collate, default_collate])
def test_multiview_batches(two_view_samples, collate):
    out = _build()(collate(two_view_samples), training=True)
    assert isinstance(out['inputs'], list) and len(out['inputs']) == 2
    for v in range(2):
        assert out['inputs'][v].shape == (7, 3, 32, 32)
        torch.testing.assert_close(out['inputs'][v],
                                   _expected_view(two_view_samples, v))
    labels = [int(s.gt_label) for s in out['data_samples']]
    assert labels == [
        int(s['data_samples'].gt_label) for s in two_view_samples
    ]


def test_single_view_matches_cls_preprocessor():
    ds = DATASETS.build(
        dict(
            type='DigitsLT', split='test', pipeline=[dict(type='PackInputs')]))
    batch = pseudo_collate([ds[i] for i in range(5)])
    ours = _build()(batch, training=False)
    ref = ClsDataPreprocessor(
        mean=MEAN, std=STD)(
            pseudo_collate([ds[i] for i in range(5)]), training=False)
    assert isinstance(ours['inputs'], torch.Tensor)
    torch.testing.assert_close(ours['inputs'], ref['inputs'], rtol=0, atol=0)


def test_multiview_with_batch_augments_raises(two_view_samples):
    pre = _build(
        num_classes=10,
        batch_augments=dict(augments=dict(type='Mixup', alpha=1.0)))
    with pytest.raises(ValueError, match='batch_augments'):
        pre(pseudo_collate(two_view_samples), training=True)


def test_ragged_views_raise():
    bad = dict(inputs=[[torch.zeros(3, 4, 4)] * 2, [torch.zeros(3, 4, 4)]])
    with pytest.raises(ValueError, match='view 1'):
        _build()(bad, training=True)
