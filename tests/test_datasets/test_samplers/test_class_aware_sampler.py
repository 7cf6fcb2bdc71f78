# Copyright (c) ltcls contributors. All rights reserved.
from unittest.mock import patch

import numpy as np
import pytest

from ltcls.datasets.samplers import ClassAwareSampler, dataset_labels
from ltcls.registry import DATA_SAMPLERS

FILE = 'ltcls.datasets.samplers.class_aware.'


class LabelDataset:
    """The interface class-based samplers read (mmpretrain BaseDataset)."""

    def __init__(self, labels, num_classes):
        self.labels = np.asarray(labels, dtype=np.int64)
        self.metainfo = {'classes': tuple(map(str, range(num_classes)))}

    def __len__(self):
        return len(self.labels)

    def get_gt_labels(self):
        return self.labels.copy()


class CatIdsDataset(LabelDataset):
    """A wrapper-like dataset exposing only get_cat_ids."""

    get_gt_labels = None

    def __getattribute__(self, name):
        if name == 'get_gt_labels':
            raise AttributeError(name)
        return super().__getattribute__(name)

    def get_cat_ids(self, i):
        return [int(self.labels[i])]


def lt_labels(counts, seed=0):
    labels = np.repeat(np.arange(len(counts)), counts)
    return labels[np.random.RandomState(seed).permutation(len(labels))]


COUNTS = [40, 20, 9, 5, 1, 0]  # class 5 is empty


def test_class_balanced_epoch_and_cyclic_members():
    labels = lt_labels(COUNTS)
    ds = LabelDataset(labels, 6)
    for k in (1, 4):
        sampler = DATA_SAMPLERS.build(
            dict(type='ClassAwareSampler', num_sample_class=k),
            default_args=dict(dataset=ds, seed=3))
        idx = np.array(list(sampler))
        assert len(idx) == len(sampler) == len(ds) == 75
        drawn = labels[idx]
        counts = np.bincount(drawn, minlength=6)
        # classes are visited in full shuffled cycles of the 5 non-empty
        # classes, k draws per visit: 75 draws -> 15 each for k = 1; for
        # k = 4, 3 full cycles (12 each) + 3 visits + 3 draws
        assert counts[5] == 0 and counts.sum() == 75
        if k == 1:
            assert counts.tolist() == [15] * 5 + [0]
        else:
            assert sorted(counts[:5].tolist()) == [12, 15, 16, 16, 16]
        # each class's draws run through reshuffled full passes of its
        # images: every pass is a permutation of the class
        for c in range(5):
            members = np.flatnonzero(labels == c)
            seq = idx[drawn == c]
            n = len(members)
            for s in range(0, len(seq) - n + 1, n):
                assert sorted(seq[s:s + n]) == members.tolist()
        # consecutive draws come in groups of k of the same class
        groups = drawn[:len(drawn) // k * k].reshape(-1, k)
        assert np.all(groups == groups[:, :1])


def test_many_epochs_uniform_over_classes():
    labels = lt_labels(COUNTS)
    sampler = ClassAwareSampler(LabelDataset(labels, 6), seed=0)
    total = np.zeros(6, dtype=np.int64)
    per_image = np.zeros(len(labels), dtype=np.int64)
    for epoch in range(40):
        sampler.set_epoch(epoch)
        idx = np.array(list(sampler))
        total += np.bincount(labels[idx], minlength=6)
        np.add.at(per_image, idx, 1)
    assert total.tolist() == [600] * 5 + [0]
    # within a class every image is drawn about equally often (cyclic
    # passes: at most one pass apart per epoch)
    for c in range(5):
        got = per_image[labels == c]
        assert got.max() - got.min() <= 40
        assert got.sum() == 600


def test_set_epoch_and_seed_determinism():
    ds = LabelDataset(lt_labels(COUNTS), 6)
    a, b = ClassAwareSampler(ds, seed=5), ClassAwareSampler(ds, seed=5)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(ClassAwareSampler(ds, seed=6)) != list(
        ClassAwareSampler(ds, seed=5))
    with patch(FILE + 'sync_random_seed', return_value=11):
        assert ClassAwareSampler(ds).seed == 11


@pytest.mark.parametrize('n', [74, 75])
def test_two_ranks_draw_disjoint_complete_shards(n):
    labels = lt_labels(COUNTS)[:n]
    ds = LabelDataset(labels, 6)
    shards = []
    for rank in range(2):
        with patch(FILE + 'get_dist_info', return_value=(rank, 2)):
            sampler = ClassAwareSampler(ds, seed=9)
        sampler.set_epoch(2)
        assert sampler.num_samples == (n + 1) // 2
        shards.append(list(sampler))
        assert len(shards[-1]) == len(sampler)
    with patch(FILE + 'get_dist_info', return_value=(0, 1)):
        full = ClassAwareSampler(ds, seed=9)
    full.set_epoch(2)
    full_draw = list(full)
    if n % 2 == 0:
        # the shards are the two halves of the single-process global draw
        assert shards[0] + shards[1] == full_draw
    else:
        # total 2 * ceil(n / 2) = n + 1 draws: the global draw extended by
        # one; the single-process draw is its first n elements
        assert (shards[0] + shards[1])[:n] == full_draw
    drawn = labels[np.array(shards[0] + shards[1])]
    counts = np.bincount(drawn, minlength=6)[:5]
    assert counts.max() - counts.min() <= 1


def test_labels_helper_and_errors():
    labels = lt_labels([3, 2])
    np.testing.assert_array_equal(
        dataset_labels(CatIdsDataset(labels, 2))[0], labels)
    # the get_cat_ids path (mmengine wrappers) gives the same draw
    assert list(ClassAwareSampler(CatIdsDataset(labels, 2), seed=0)) == \
        list(ClassAwareSampler(LabelDataset(labels, 2), seed=0))
    with pytest.raises(ValueError, match='num_sample_class'):
        ClassAwareSampler(LabelDataset(labels, 2), seed=0, num_sample_class=0)
    with pytest.raises(ValueError, match='out of range for 2 classes'):
        ClassAwareSampler(LabelDataset([0, 2], 2), seed=0)
    with pytest.raises(ValueError, match='empty'):
        ClassAwareSampler(LabelDataset([], 2), seed=0)
    with pytest.raises(TypeError, match='get_gt_labels'):
        ClassAwareSampler(list(range(4)), seed=0)
    assert DATA_SAMPLERS.get('ClassBalancedSampler') is ClassAwareSampler


def test_swapping_the_base_config_sampler_by_type(repo_root):
    """A child config that only changes ``type`` keeps the base configs'
    ``shuffle=True``; every ltcls sampler accepts it, and rejects False."""
    from mmengine.config import Config
    base = Config.fromfile(
        f'{repo_root}/configs/_base_/datasets/imagenet_lt.py')
    ds = LabelDataset(lt_labels(COUNTS), 6)
    for child in (dict(type='ClassAwareSampler'),
                  dict(type='PowerSampler',
                       q=0.5), dict(type='SquareRootSampler'),
                  dict(type='ProgressivelyBalancedSampler', total_epochs=3)):
        cfg = Config(dict(base.to_dict()))
        cfg.merge_from_dict(dict(train_dataloader=dict(sampler=child)))
        assert cfg.train_dataloader.sampler.shuffle is True
        sampler = DATA_SAMPLERS.build(
            cfg.train_dataloader.sampler,
            default_args=dict(dataset=ds, seed=0))
        assert len(list(sampler)) == len(ds)
        bad = dict(cfg.train_dataloader.sampler, shuffle=False)
        with pytest.raises(ValueError, match='shuffle=False is not'):
            DATA_SAMPLERS.build(bad, default_args=dict(dataset=ds, seed=0))
