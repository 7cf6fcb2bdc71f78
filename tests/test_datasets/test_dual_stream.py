# Copyright (c) ltcls contributors. All rights reserved.
"""DualStreamSampler / DualStreamDataset (Hybrid-SC / PSC data plumbing)."""
from unittest.mock import patch

import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler, pseudo_collate

from ltcls.datasets import DigitsLT, DualStreamDataset, long_tail_counts
from ltcls.datasets.samplers import DualStreamSampler, class_balanced_indices
from ltcls.registry import DATA_SAMPLERS, MODELS

SAMPLER_DIST = 'ltcls.datasets.samplers.dual_stream_sampler.get_dist_info'
DEFAULT_DIST = 'mmengine.dataset.sampler.get_dist_info'


class FakeLTDataset:
    """Labels only: IF-50 exponential profile over 10 classes."""

    def __init__(self, n_max=100, num_classes=10, imbalance=50):
        counts = long_tail_counts(n_max, num_classes, imbalance)
        labels = np.repeat(np.arange(num_classes), counts)
        self.labels = np.random.RandomState(0).permutation(labels)

    def get_gt_labels(self):
        return self.labels

    def __len__(self):
        return len(self.labels)


def _pairs(sampler, epoch=0):
    sampler.set_epoch(epoch)
    pairs = np.array(list(iter(sampler)))
    assert len(pairs) == len(sampler)
    return pairs[:, 0], pairs[:, 1]


@pytest.mark.parametrize('world_size', [1, 2, 3])
def test_instance_stream_is_default_sampler(world_size):
    ds = FakeLTDataset()
    for rank in range(world_size):
        with patch(SAMPLER_DIST, return_value=(rank, world_size)), \
                patch(DEFAULT_DIST, return_value=(rank, world_size)):
            dual = DualStreamSampler(ds, seed=7)
            default = DefaultSampler(ds, shuffle=True, seed=7)
        assert len(dual) == len(default)
        for epoch in (0, 3):
            feat, _ = _pairs(dual, epoch)
            default.set_epoch(epoch)
            assert feat.tolist() == list(iter(default))


def test_class_balanced_stream_is_uniform():
    ds = FakeLTDataset()  # counts 100 ... 2
    counts = np.bincount(ds.labels)
    assert counts.max() / counts.min() == 50
    sampler = DATA_SAMPLERS.build(
        dict(type='DualStreamSampler', seed=1), default_args=dict(dataset=ds))
    seen = []
    for epoch in range(4):
        _, cls = _pairs(sampler, epoch)
        cls_counts = np.bincount(ds.labels[cls], minlength=10)
        # every epoch: each class drawn len/C times, up to one
        assert cls_counts.max() - cls_counts.min() <= 1, cls_counts
        # and the order is balanced at every prefix (class cycles)
        first = np.bincount(ds.labels[cls[:50]], minlength=10)
        assert (first == 5).all(), first
        seen.append(cls)
    # within a class the images are walked through without repetition
    # before a pass is complete: a 2-image class gets ~equal use
    tail = np.flatnonzero(ds.labels == 9)
    uses = np.array([(seen[0] == t).sum() for t in tail])
    assert uses.max() - uses.min() <= 1
    # the head class's 100 images are all distinct within one epoch
    head = seen[0][ds.labels[seen[0]] == 0]
    assert len(np.unique(head)) == len(head)
    # the feature stream stays instance-balanced (one pass of the data)
    feat, _ = _pairs(sampler, 0)
    assert sorted(feat.tolist()) == list(range(len(ds)))


def test_class_balanced_indices_edge_cases():
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 0, 3, 5, 5])  # classes 1, 2, 4 empty
    out = class_balanced_indices(labels, 30, rng)
    assert out.shape == (30, )
    cls = labels[out]
    assert set(cls.tolist()) == {0, 3, 5}
    assert (np.bincount(cls)[[0, 3, 5]] == 10).all()
    # the single image of class 3 is used every time class 3 is drawn
    assert (out[cls == 3] == 3).all()
    # class 0 (3 images): 10 draws = 3 full passes + 1
    uses = np.bincount(out[cls == 0], minlength=3)
    assert sorted(uses.tolist()) == [3, 3, 4]
    with pytest.raises(ValueError, match='labels'):
        class_balanced_indices(np.array([0, -1]), 4, rng)


def test_deterministic_with_seed_and_epoch():
    ds = FakeLTDataset()
    a = DualStreamSampler(ds, seed=3)
    b = DualStreamSampler(ds, seed=3)
    c = DualStreamSampler(ds, seed=4)
    fa, ca = _pairs(a, 2)
    fb, cb = _pairs(b, 2)
    fc, cc = _pairs(c, 2)
    assert (fa == fb).all() and (ca == cb).all()
    assert not (fa == fc).all() and not (ca == cc).all()
    f3, c3 = _pairs(a, 3)
    assert not (fa == f3).all() and not (ca == c3).all()
    # resume: a fresh sampler set to the same epoch gives the same pairs
    d = DualStreamSampler(ds, seed=3)
    fd, cd = _pairs(d, 3)
    assert (fd == f3).all() and (cd == c3).all()


def test_ranks_partition_the_global_sequence():
    ds = FakeLTDataset()
    world = 2
    per_rank = []
    for rank in range(world):
        with patch(SAMPLER_DIST, return_value=(rank, world)):
            s = DualStreamSampler(ds, seed=5)
        per_rank.append(_pairs(s, 1))
        feat_g, cls_g = s.global_pairs()
    for rank, (f, c) in enumerate(per_rank):
        assert (f == feat_g[rank::world]).all()
        assert (c == cls_g[rank::world]).all()
    counts = np.bincount(ds.labels[np.concatenate([c for _, c in per_rank])])
    assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize('world_size', [1, 2])
def test_class_grouped_feature_stream(world_size):
    ds = FakeLTDataset()
    g = 2
    anchors_all = []
    for rank in range(world_size):
        with patch(SAMPLER_DIST, return_value=(rank, world_size)):
            s = DualStreamSampler(
                ds, seed=0, feat_sampling='class_grouped',
                images_per_class=g)
        feat, _ = _pairs(s, 0)
        assert len(feat) % g == 0
        groups = ds.labels[feat].reshape(-1, g)
        assert (groups == groups[:, :1]).all()  # same class in a group
        pairs = feat.reshape(-1, g)
        multi = np.bincount(ds.labels)[ds.labels[pairs[:, 0]]] > 1
        # partners differ from the anchor when the class has > 1 image
        assert (pairs[multi, 1] != pairs[multi, 0]).all()
        anchors_all.append(pairs[:, 0])
    # anchors follow the instance order, dealt round-robin to ranks
    order = np.stack(anchors_all, 1).reshape(-1)
    with patch(SAMPLER_DIST, return_value=(0, 1)):
        ref = DualStreamSampler(ds, seed=0)
    expected = ref._instance_order()
    n = min(len(order), len(expected))
    assert (order[:n] == expected[:n]).all()


def test_cls_instance_and_feat_class_balanced():
    ds = FakeLTDataset()
    s = DualStreamSampler(ds, seed=0, feat_sampling='class_balanced',
                          cls_sampling='instance')
    feat, cls = _pairs(s, 0)
    assert sorted(cls.tolist()) == list(range(len(ds)))
    fc = np.bincount(ds.labels[feat], minlength=10)
    assert fc.max() - fc.min() <= 1


@pytest.mark.parametrize('kwargs,match', [
    (dict(feat_sampling='random'), 'feat_sampling'),
    (dict(cls_sampling='sqrt'), 'cls_sampling'),
    (dict(images_per_class=0), 'images_per_class'),
])
def test_sampler_bad_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DualStreamSampler(FakeLTDataset(), seed=0, **kwargs)
    with pytest.raises(TypeError, match='get_gt_labels'):
        DualStreamSampler(list(range(4)), seed=0)


# ---------------------------------------------------------------------------
# DualStreamDataset on DigitsLT
# ---------------------------------------------------------------------------
FEAT_PIPELINE = [
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[dict(type='RandomFlip', prob=0.5)],
                    [dict(type='RandomFlip', prob=0.5),
                     dict(type='RandomGrayscale', prob=1.0,
                          keep_channels=True)]]),
    dict(type='PackInputs'),
]
CLS_PIPELINE = [dict(type='RandomCrop', crop_size=32, padding=2),
                dict(type='PackInputs')]


@pytest.fixture(scope='module')
def dual_dataset():
    return DualStreamDataset(
        dataset=dict(type='DigitsLT', split='train', imbalance_factor=50,
                     pipeline=[]),
        feat_pipeline=FEAT_PIPELINE,
        cls_pipeline=CLS_PIPELINE)


def test_dataset_packs_both_streams(dual_dataset):
    inner = dual_dataset.dataset
    assert isinstance(inner, DigitsLT)
    assert len(dual_dataset) == len(inner)
    assert dual_dataset.metainfo['classes'] == inner.metainfo['classes']
    assert (dual_dataset.class_counts == inner.class_counts).all()
    labels = inner.get_gt_labels()
    i_feat = int(np.flatnonzero(labels == 0)[0])  # a head image
    i_cls = int(np.flatnonzero(labels == 9)[0])  # a tail image
    out = dual_dataset[(i_feat, i_cls)]
    assert len(out['inputs']) == 3
    assert all(v.shape == (3, 32, 32) for v in out['inputs'])
    sample = out['data_samples']
    assert int(sample.gt_label) == labels[i_feat]
    assert int(sample.cls_gt_label) == labels[i_cls]
    assert sample.sample_idx == i_feat and sample.cls_sample_idx == i_cls
    # with deterministic pipelines the views are exactly the two images
    plain = DualStreamDataset(
        dataset=inner,
        feat_pipeline=[dict(type='MultiView', num_views=2,
                            transforms=[[]]), dict(type='PackInputs')],
        cls_pipeline=[dict(type='PackInputs')])
    out = plain[(i_feat, i_cls)]

    def raw(i):
        return torch.from_numpy(inner.get_data_info(i)['img']).permute(
            2, 0, 1)

    assert torch.equal(out['inputs'][0], raw(i_feat))
    assert torch.equal(out['inputs'][1], raw(i_feat))
    assert torch.equal(out['inputs'][2], raw(i_cls))


def test_dataset_batch_through_preprocessor(dual_dataset):
    sampler = DualStreamSampler(dual_dataset, seed=0)
    pairs = list(iter(sampler))[:6]
    batch = pseudo_collate([dual_dataset[p] for p in pairs])
    pre = MODELS.build(dict(type='MultiViewClsDataPreprocessor',
                            num_classes=10, mean=[0.] * 3, std=[1.] * 3))
    data = pre(batch, training=True)
    assert len(data['inputs']) == 3
    assert all(v.shape == (6, 3, 32, 32) for v in data['inputs'])
    labels = dual_dataset.get_gt_labels()
    cls = torch.cat([s.cls_gt_label for s in data['data_samples']])
    assert cls.tolist() == [int(labels[j]) for _, j in pairs]


def test_dataset_errors(dual_dataset):
    with pytest.raises(TypeError, match='DualStreamSampler'):
        dual_dataset[3]
    with pytest.raises(ValueError, match='non-empty pipeline'):
        DualStreamDataset(
            dataset=dict(type='DigitsLT', pipeline=[dict(type='PackInputs')]),
            feat_pipeline=FEAT_PIPELINE, cls_pipeline=CLS_PIPELINE)
    bad = DualStreamDataset(
        dataset=dict(type='DigitsLT', pipeline=[]),
        feat_pipeline=FEAT_PIPELINE, cls_pipeline=FEAT_PIPELINE)
    with pytest.raises(TypeError, match='single view'):
        bad[(0, 1)]
