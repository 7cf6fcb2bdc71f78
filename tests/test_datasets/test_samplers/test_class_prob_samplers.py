# Copyright (c) ltcls contributors. All rights reserved.
"""PowerSampler / SquareRootSampler / ProgressivelyBalancedSampler.

Empirical class frequencies are compared with the target probabilities
within 5 binomial standard deviations; all seeds are fixed, so the tests
are deterministic (they cannot flake), and a wrong distribution (e.g. q = 1
instead of 1/2) misses the bound by far."""
from unittest.mock import patch

import numpy as np
import pytest
import torch

from ltcls.datasets import LongTailTxtDataset
from ltcls.datasets.samplers import (PowerSampler,
                                     ProgressivelyBalancedSampler,
                                     SquareRootSampler, cyclic_class_draw)
from ltcls.registry import DATA_SAMPLERS

FILE = 'ltcls.datasets.samplers.class_prob.'
COUNTS = np.array([4000, 2000, 1000, 500, 250, 100, 0])  # last class empty


class LabelDataset:

    def __init__(self, labels, num_classes):
        self.labels = np.asarray(labels, dtype=np.int64)
        self.metainfo = {'classes': tuple(map(str, range(num_classes)))}

    def __len__(self):
        return len(self.labels)

    def get_gt_labels(self):
        return self.labels.copy()


def lt_dataset(counts=COUNTS, seed=0):
    labels = np.repeat(np.arange(len(counts)), counts)
    labels = labels[np.random.RandomState(seed).permutation(len(labels))]
    return LabelDataset(labels, len(counts))


def assert_close_to(drawn_labels, probs):
    """|freq - p| <= 5 sigma (binomial) for every class."""
    T = len(drawn_labels)
    freq = np.bincount(drawn_labels, minlength=len(probs)) / T
    tol = 5 * np.sqrt(probs * (1 - probs) / T) + 1e-12
    assert np.all(np.abs(freq - probs) <= tol), (freq, probs, tol)


def epoch_draws(sampler, epochs):
    out = []
    for e in epochs:
        sampler.set_epoch(e)
        out.extend(sampler)
    return np.array(out)


@pytest.mark.parametrize('q', [0.0, 0.5, 1.0, 2.0])
def test_power_sampler_distribution(q):
    ds = lt_dataset()
    sampler = DATA_SAMPLERS.build(
        dict(type='PowerSampler', q=q), default_args=dict(dataset=ds, seed=1))
    n = COUNTS.astype(np.float64)
    w = np.array([c**q if c > 0 else 0.0 for c in n])
    expected = w / w.sum()
    np.testing.assert_allclose(sampler.class_probs(), expected, atol=1e-12)
    assert sampler.class_probs()[-1] == 0  # empty class, even for q = 0
    idx = epoch_draws(sampler, range(10))
    assert len(idx) == 10 * len(ds)
    assert_close_to(ds.labels[idx], expected)


def test_square_root_sampler():
    ds = lt_dataset()
    a = SquareRootSampler(ds, seed=4)
    b = PowerSampler(ds, q=0.5, seed=4)
    assert a.q == 0.5
    assert list(a) == list(b)
    sq = np.sqrt(COUNTS)
    np.testing.assert_allclose(a.class_probs(), sq / sq.sum(), atol=1e-12)


def test_images_within_a_class_are_drawn_in_shuffled_full_passes():
    ds = lt_dataset()
    sampler = PowerSampler(ds, q=0.0, seed=2)
    for epoch in (0, 3):
        sampler.set_epoch(epoch)
        idx = np.array(list(sampler))
        drawn = ds.labels[idx]
        for c in range(6):
            members = np.flatnonzero(ds.labels == c)
            seq = idx[drawn == c]
            n = len(members)
            chunks = [seq[s:s + n] for s in range(0, len(seq), n)]
            for chunk in chunks:
                # a full pass is a permutation of the class, the last
                # (partial) pass has no repeat
                assert len(set(chunk.tolist())) == len(chunk)
                assert set(chunk.tolist()) <= set(members.tolist())
            if len(chunks) >= 3:  # passes are reshuffled
                assert not np.array_equal(chunks[0], chunks[1])
            per_image = np.bincount(seq, minlength=len(ds))[members]
            assert per_image.max() - per_image.min() <= 1


def test_cyclic_class_draw_direct():
    members = np.array([7, 3, 9, 1, 4])  # class 0: 7, 3; class 1: 9, 1, 4
    counts = np.array([2, 3, 0])
    classes = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 1])
    g = torch.Generator().manual_seed(0)
    out = cyclic_class_draw(classes, members, counts, g)
    assert sorted(out[classes == 0][:2]) == [3, 7]
    assert out[classes == 0][2] in (3, 7)
    seq1 = out[classes == 1]
    assert sorted(seq1[:3]) == [1, 4, 9] and sorted(seq1[3:6]) == [1, 4, 9]
    with pytest.raises(ValueError, match='without images'):
        cyclic_class_draw(np.array([2]), members, counts, g)


def test_progressively_balanced_sampler():
    ds = lt_dataset()
    T = 10
    p_ib = COUNTS / COUNTS.sum()
    p_cb = (COUNTS > 0) / 6.0
    samplers = [
        ProgressivelyBalancedSampler(ds, total_epochs=T, seed=s)
        for s in range(8)
    ]
    for epoch, alpha in ((0, 0.0), (T // 2, 0.5), (T, 1.0), (3 * T, 1.0),
                         (3, 0.3)):
        expected = (1 - alpha) * p_ib + alpha * p_cb
        drawn = []
        for s in samplers:
            s.set_epoch(epoch)
            np.testing.assert_allclose(s.class_probs(), expected, atol=1e-12)
            drawn.extend(s)
        assert_close_to(ds.labels[np.array(drawn)], expected)
    built = DATA_SAMPLERS.build(
        dict(type='ProgressivelyBalancedSampler', total_epochs=4),
        default_args=dict(dataset=ds, seed=0))
    assert built.total_epochs == 4


@pytest.mark.parametrize('cfg', [
    dict(type='PowerSampler', q=0.5),
    dict(type='ProgressivelyBalancedSampler', total_epochs=6)
])
def test_two_ranks_draw_disjoint_complete_shards(cfg):
    ds = lt_dataset([30, 12, 5, 1])  # 48 images
    shards = []
    for rank in range(2):
        with patch(FILE + 'get_dist_info', return_value=(rank, 2)):
            s = DATA_SAMPLERS.build(cfg, default_args=dict(dataset=ds, seed=5))
        s.set_epoch(3)
        shards.append(list(s))
        assert len(s) == len(shards[-1]) == 24
    with patch(FILE + 'get_dist_info', return_value=(0, 1)):
        full = DATA_SAMPLERS.build(cfg, default_args=dict(dataset=ds, seed=5))
    full.set_epoch(3)
    # rank r holds positions [24 r, 24 (r + 1)) of the same global draw
    assert shards[0] + shards[1] == list(full)
    # odd length: every rank gets ceil(N / 2) draws
    odd = lt_dataset([30, 12, 5, 2])
    with patch(FILE + 'get_dist_info', return_value=(1, 2)):
        s = DATA_SAMPLERS.build(cfg, default_args=dict(dataset=odd, seed=5))
    assert len(list(s)) == len(s) == 25 and s.total_size == 50


def test_set_epoch_changes_draw_deterministically():
    ds = lt_dataset([30, 12, 5, 1])
    a, b = PowerSampler(ds, seed=3), PowerSampler(ds, seed=3)
    assert list(a) == list(b)
    a.set_epoch(1)
    first = list(a)
    assert first != list(b) and first == list(a)
    b.set_epoch(1)
    assert list(b) == first
    with patch(FILE + 'sync_random_seed', return_value=17):
        assert PowerSampler(ds).seed == 17


def test_with_an_ltcls_dataset(tmp_path):
    lines = [f'img/{i}.jpg {c}' for i, c in enumerate([0] * 6 + [1] * 3 + [2])]
    (tmp_path / 'train.txt').write_text('\n'.join(lines))
    ds = LongTailTxtDataset(
        ann_file='train.txt', data_root=str(tmp_path), num_classes=4,
        allow_empty_classes=True)  # class 3 empty on purpose
    for cfg in (dict(type='ClassAwareSampler'), dict(type='PowerSampler'),
                dict(type='SquareRootSampler'),
                dict(type='ProgressivelyBalancedSampler', total_epochs=2)):
        s = DATA_SAMPLERS.build(cfg, default_args=dict(dataset=ds, seed=0))
        s.set_epoch(1)
        idx = list(s)
        assert len(idx) == 10 and set(idx) <= set(range(10))
        if hasattr(s, 'class_counts'):
            assert s.class_counts.tolist() == [6, 3, 1, 0]


def test_errors():
    ds = lt_dataset([3, 1])
    for q in (-0.5, float('nan'), float('inf'), '1', True):
        with pytest.raises(ValueError, match='q must be'):
            PowerSampler(ds, q=q, seed=0)
    for t in (0, -1, 2.5, None):
        with pytest.raises(ValueError, match='total_epochs'):
            ProgressivelyBalancedSampler(ds, total_epochs=t, seed=0)
    with pytest.raises(ValueError, match='empty'):
        PowerSampler(LabelDataset([], 3), seed=0)
    with pytest.raises(ValueError, match='out of range'):
        PowerSampler(LabelDataset([0, 5], 3), seed=0)
