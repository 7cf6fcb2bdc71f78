# Copyright (c) ltcls contributors. All rights reserved.
"""SBCL subclass clustering (spec_sbcl §3): cluster-count formula, greedy
capacity-limited assignment against a plain greedy loop, batched k-means
against a per-class loop, and the per-class temperature (§2.4)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ltcls.datasets import long_tail_counts
from ltcls.models.utils.subclass_clustering import (
    balanced_assign, batched_spherical_kmeans, class_temperature,
    cluster_subclasses, greedy_capacity_assign, num_subclasses_per_class,
    subclass_offsets)


# --------------------------------------------------------------------------
# m_c = max(1, floor(n_c / max(n_min, delta)))
# --------------------------------------------------------------------------
@pytest.mark.parametrize('imbalance, total, n_multi, m_max',
                         [(100, 1051, 70, 50), (50, 1219, 82, 50),
                          (10, 346, 70, 10)])
def test_cifar100_lt_subclass_totals(imbalance, total, n_multi, m_max):
    """spec_sbcl §3.1 table: CIFAR-100-LT with delta = 10."""
    counts = long_tail_counts(500, 100, imbalance)
    m = num_subclasses_per_class(counts, delta=10)
    assert m.sum() == total
    assert (m > 1).sum() == n_multi
    assert m.max() == m_max
    assert m.min() == 1


def test_num_subclasses_formula():
    # ImageNet-LT: n_1 = 1280, n_C = 5, delta = 20 -> M = 20, m_1 = 64
    m = num_subclasses_per_class([1280, 700, 39, 40, 5], delta=20)
    assert m.tolist() == [64, 35, 1, 2, 1]
    # the tail size wins over delta when it is larger
    m = num_subclasses_per_class([500, 120, 50], delta=10)
    assert m.tolist() == [10, 2, 1]
    # explicit n_min; zero-count classes keep one (empty) subclass
    m = num_subclasses_per_class(torch.tensor([100, 0, 30]), 10, n_min=25)
    assert m.tolist() == [4, 1, 1]
    assert subclass_offsets([3, 1, 2]).tolist() == [0, 3, 4]
    with pytest.raises(ValueError, match='delta'):
        num_subclasses_per_class([10, 5], delta=0)
    with pytest.raises(ValueError, match='>= 0'):
        num_subclasses_per_class([10, -1], delta=2)
    with pytest.raises(ValueError, match='all zero'):
        num_subclasses_per_class([0, 0], delta=2)


# --------------------------------------------------------------------------
# greedy capacity-limited assignment
# --------------------------------------------------------------------------
def greedy_reference(sim, caps, proposers):
    """Algorithm 1's assignment, literally: sort all (sample, centre) pairs
    by similarity (ties: lower sample, then lower centre), take a pair if
    the sample is free and the centre not full."""
    n, K = sim.shape
    pairs = sorted((-float(sim[i, j]), i, j) for i in range(n)
                   for j in range(K) if proposers[i] and caps[j] > 0)
    assign, count = [-1] * n, [0] * K
    for _, i, j in pairs:
        if assign[i] < 0 and count[j] < caps[j]:
            assign[i] = j
            count[j] += 1
    return assign


@pytest.mark.parametrize('ties', [False, True])
def test_balanced_assign_equals_greedy_loop(ties):
    g = torch.Generator().manual_seed(1 + ties)
    for _ in range(60):
        B = 3
        n = int(torch.randint(1, 30, (1, ), generator=g))
        K = int(torch.randint(1, 7, (1, ), generator=g))
        if ties:  # few distinct values: exercises the tie-breaking
            sim = torch.randint(-3, 4, (B, n, K), generator=g).float() / 4
        else:
            sim = torch.rand(B, n, K, generator=g) * 2 - 1
        caps = torch.randint(0, 5, (B, K), generator=g)
        prop = torch.rand(B, n, generator=g) < 0.8
        out = balanced_assign(sim, caps, prop)
        for b in range(B):
            ref = greedy_reference(sim[b].numpy(), caps[b].tolist(),
                                   prop[b].tolist())
            assert out[b].tolist() == ref


def test_greedy_capacity_assign_flat_rows_unsorted():
    """Rows (classes) interleaved in the flat layout: each row is solved
    on its own, in the relative order of its samples."""
    g = torch.Generator().manual_seed(3)
    S, K, R = 40, 4, 3
    sim = torch.rand(S, K, generator=g)
    row = torch.randint(0, R, (S, ), generator=g)
    caps = torch.randint(1, 6, (R, K), generator=g)
    out = greedy_capacity_assign(sim, row, caps)
    for r in range(R):
        idx = torch.nonzero(row == r).squeeze(1)
        ref = greedy_reference(sim[idx].numpy(), caps[r].tolist(),
                               [True] * len(idx))
        assert out[idx].tolist() == ref
    # capacities are respected and, with enough room, everyone is placed
    for r in range(R):
        got = torch.bincount(out[(row == r) & (out >= 0)], minlength=K)
        assert (got <= caps[r]).all()
        assert (out[row == r]
                >= 0).sum() == min(int((row == r).sum()), int(caps[r].sum()))


# --------------------------------------------------------------------------
# batched k-means == per-class loop
# --------------------------------------------------------------------------
def kmeans_reference(x, k, init, algo, max_iters, tol):
    """One class, plain loop: cosine similarity to normalised centres,
    nearest centre (kmeans) or Algorithm 1 with caps floor(n/k) then one
    extra slot per centre (balanced_greedy), normalised means, empty
    clusters re-seeded with the farthest samples, stop on the code's
    criterion (sum_j ||c_j - c_j'||)^2 < tol."""
    x = x.astype(np.float64)
    c = init / np.linalg.norm(init, axis=1, keepdims=True)
    n = len(x)
    assign = None
    for _ in range(max_iters):
        sim = x @ c.T
        if algo == 'kmeans':
            assign = sim.argmax(1)
        else:
            a = greedy_reference(sim, [n // k] * k, [True] * n)
            left = [i for i in range(n) if a[i] < 0]
            if left:
                a2 = greedy_reference(sim, [1] * k,
                                      [a[i] < 0 for i in range(n)])
                a = [a2[i] if a[i] < 0 else a[i] for i in range(n)]
            assign = np.array(a)
        new = np.zeros_like(c)
        empty = []
        for j in range(k):
            members = x[assign == j]
            if len(members):
                new[j] = members.sum(0)
            else:
                empty.append(j)
        if empty:
            own = sim[np.arange(n), assign]
            far = np.argsort(own, kind='stable')
            for e, j in enumerate(empty):
                new[j] = x[far[e]]
        new /= np.linalg.norm(new, axis=1, keepdims=True)
        shift = np.linalg.norm(new - c, axis=1).sum()**2
        c = new
        if shift < tol:
            break
    return assign


@pytest.mark.parametrize('algo', ['kmeans', 'balanced_greedy'])
def test_batched_kmeans_equals_per_class_loop(algo):
    g = torch.Generator().manual_seed(0)
    sizes, ks, d = [23, 9, 17, 4], [4, 2, 3, 1], 6
    n = max(sizes)
    x = torch.zeros(len(sizes), n, d)
    valid = torch.zeros(len(sizes), n, dtype=torch.bool)
    for b, nb in enumerate(sizes):
        x[b, :nb] = F.normalize(torch.randn(nb, d, generator=g), dim=1)
        valid[b, :nb] = True
    K = max(ks)
    init = torch.zeros(len(sizes), K, d)
    for b, kb in enumerate(ks):
        init[b, :kb] = x[b, :kb] + 0.1 * torch.randn(kb, d, generator=g)
    x64 = x.double()
    assign, centres, iters = batched_spherical_kmeans(
        x64,
        valid,
        torch.tensor(ks),
        algo=algo,
        init=init,
        max_iters=30,
        tol=1e-6)
    for b, (nb, kb) in enumerate(zip(sizes, ks)):
        ref = kmeans_reference(x64[b, :nb].numpy(), kb, init[b, :kb].numpy(),
                               algo, 30, 1e-6)
        assert assign[b, :nb].tolist() == ref.tolist()
        assert (assign[b, nb:] == -1).all()
        if algo == 'balanced_greedy':
            cnt = torch.bincount(assign[b, :nb], minlength=kb)
            assert set(cnt.tolist()) <= {nb // kb, -(-nb // kb)}
    assert (iters >= 1).all() and (iters <= 30).all()


def test_batched_kmeans_bad_k():
    x = torch.randn(1, 3, 2)
    valid = torch.tensor([[True, True, False]])
    with pytest.raises(ValueError, match='asks for 3 clusters but has 2'):
        batched_spherical_kmeans(x, valid, torch.tensor([3]))
    with pytest.raises(ValueError, match='algo'):
        batched_spherical_kmeans(x, valid, torch.tensor([1]), algo='dbscan')


# --------------------------------------------------------------------------
# cluster_subclasses
# --------------------------------------------------------------------------
def separated_modes(counts, m, d=16, seed=0, noise=0.02):
    """Class c has m_c well-separated modes of (almost) equal size."""
    g = torch.Generator().manual_seed(seed)
    feats, labels, modes = [], [], []
    next_mode = 0
    for c, (n, k) in enumerate(zip(counts, m)):
        centres = F.normalize(torch.randn(k, d, generator=g), dim=1)
        which = torch.arange(n) % k
        feats.append(centres[which] + noise * torch.randn(n, d, generator=g))
        labels.append(torch.full((n, ), c))
        modes.append(which + next_mode)
        next_mode += k
    feats, labels, modes = map(torch.cat, (feats, labels, modes))
    perm = torch.randperm(len(labels), generator=g)  # not sorted by class
    return feats[perm], labels[perm], modes[perm]


@pytest.mark.parametrize('algo', ['balanced_greedy', 'kmeans'])
def test_cluster_subclasses_recovers_modes_on_shuffled_data(algo):
    counts = [60, 41, 20, 10, 3]
    m = num_subclasses_per_class(counts, delta=10)  # M = 10 -> 6,4,2,1,1
    assert m.tolist() == [6, 4, 2, 1, 1]
    feats, labels, modes = separated_modes(counts, m)
    res = cluster_subclasses(
        feats, labels, 5, delta=10, algo=algo, init='kmeans++', seed=0)
    sub = res.sub_labels
    assert res.num_subclasses.tolist() == m.tolist()
    assert res.offsets.tolist() == [0, 6, 10, 12, 13]
    assert res.sizes.sum() == len(labels)
    # global ids live in the class's range: equal ids imply equal labels
    lo = res.offsets[labels]
    assert ((sub >= lo) & (sub < lo + res.num_subclasses[labels])).all()
    # the partition equals the true modes (up to renaming)
    pairs = set(zip(sub.tolist(), modes.tolist()))
    assert len(pairs) == len(set(modes.tolist())) == len(set(sub.tolist()))
    if algo == 'balanced_greedy':
        for c, (n, k) in enumerate(zip(counts, m)):
            sz = torch.bincount(
                sub[labels == c] - res.offsets[c], minlength=int(k))
            assert set(sz.tolist()) <= {n // k, -(-n // k)}


@pytest.mark.parametrize('init', ['kmeans++', 'random'])
def test_cluster_subclasses_balanced_sizes_and_determinism(init):
    g = torch.Generator().manual_seed(5)
    counts = [97, 53, 31, 12, 7]
    labels = torch.repeat_interleave(torch.arange(5), torch.tensor(counts))
    labels = labels[torch.randperm(len(labels), generator=g)]
    feats = torch.randn(len(labels), 8, generator=g)
    res = cluster_subclasses(feats, labels, 5, delta=10, seed=3, init=init)
    m = num_subclasses_per_class(counts, 10)
    for c, (n, k) in enumerate(zip(counts, m)):
        sz = torch.bincount(
            res.sub_labels[labels == c] - res.offsets[c], minlength=int(k))
        assert sz.sum() == n
        assert set(sz.tolist()) <= {n // k, -(-n // k)}  # 97 = 9 * 10 + 7
    again = cluster_subclasses(feats, labels, 5, delta=10, seed=3, init=init)
    assert torch.equal(res.sub_labels, again.sub_labels)
    # the result does not depend on the feature scale (normalised inside)
    scaled = cluster_subclasses(
        feats * 7.0, labels, 5, delta=10, seed=3, init=init)
    assert torch.equal(res.sub_labels, scaled.sub_labels)
    # iterations are reported for clustered classes only
    assert res.iterations[m == 1].eq(0).all()
    assert res.iterations[m > 1].ge(1).all()


def test_cluster_subclasses_uses_given_class_counts():
    """m_c comes from the full train-set counts even when fewer samples are
    present (e.g. a rank's shard); k never exceeds the samples present."""
    feats = torch.randn(12, 4)
    labels = torch.tensor([0] * 8 + [1] * 4)
    res = cluster_subclasses(feats, labels, 2, delta=2, class_counts=[20, 4])
    assert res.num_subclasses.tolist() == [5, 1]
    assert res.sub_labels[labels == 1].eq(5).all()
    assert res.sub_labels[labels == 0].lt(5).all()


def test_cluster_subclasses_errors():
    with pytest.raises(ValueError, match='features must be'):
        cluster_subclasses(torch.randn(4), torch.zeros(4), 1, 2)
    with pytest.raises(ValueError, match='labels has 3 entries'):
        cluster_subclasses(torch.randn(4, 2), torch.zeros(3), 1, 2)
    with pytest.raises(ValueError, match=r'labels must be in \[0, 2\)'):
        cluster_subclasses(torch.randn(2, 2), torch.tensor([0, 2]), 2, 2)
    with pytest.raises(ValueError, match='NaN'):
        cluster_subclasses(
            torch.full((2, 2), float('nan')), torch.tensor([0, 1]), 2, 2)
    with pytest.raises(ValueError, match='algo'):
        cluster_subclasses(
            torch.randn(2, 2), torch.tensor([0, 1]), 2, 2, algo='spectral')
    with pytest.raises(ValueError, match='class_counts has 3 entries'):
        cluster_subclasses(
            torch.randn(2, 2),
            torch.tensor([0, 1]),
            2,
            2,
            class_counts=[1, 1, 1])


# --------------------------------------------------------------------------
# per-class temperature (Eqs. 5-6 and the code's variants)
# --------------------------------------------------------------------------
def phi_reference(z, labels, C, alpha):
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    phi = np.zeros(C)
    for c in range(C):
        zc = z[labels == c]
        t = zc.mean(0)
        phi[c] = np.linalg.norm(
            zc - t, axis=1).sum() / (
                len(zc) * np.log(len(zc) + alpha))
    return phi


def test_class_temperature_modes():
    g = torch.Generator().manual_seed(0)
    C, tau1, alpha = 6, 0.1, 10.0
    counts = [40, 25, 12, 6, 3, 2]
    labels = torch.repeat_interleave(torch.arange(C), torch.tensor(counts))
    labels = labels[torch.randperm(len(labels), generator=g)]
    spread = torch.tensor([0.2, 1.0, 0.5, 2.0, 0.1, 0.7])
    z = torch.randn(len(labels), 8, generator=g, dtype=torch.float64)
    z = z * spread[labels, None].double() + torch.eye(8)[labels % 8]
    phi = phi_reference(z.numpy(), labels.numpy(), C, alpha)

    tau_exp = class_temperature(z, labels, C, tau1, 'exp', alpha)
    np.testing.assert_allclose(
        tau_exp.numpy(), tau1 * np.exp(phi / phi.mean()), rtol=1e-5)
    assert (tau_exp > tau1).all()  # Eq. 6 guarantees tau2 > tau1

    tau_lin = class_temperature(z, labels, C, tau1, 'linear', alpha)
    np.testing.assert_allclose(
        tau_lin.numpy(), tau1 * phi / phi.mean(), rtol=1e-5)
    assert tau_lin.double().mean().item() == pytest.approx(tau1, rel=1e-5)

    lo, hi = np.percentile(phi, [20, 80])
    clipped = np.clip(phi, lo, hi)
    tau_clip = class_temperature(
        z, labels, C, tau1, 'linear', alpha, clip_percentiles=(20, 80))
    np.testing.assert_allclose(
        tau_clip.numpy(), tau1 * clipped / clipped.mean(), rtol=1e-5)

    m = np.array([3, 2, 1, 1, 1, 1])
    tau_tail = class_temperature(
        z,
        labels,
        C,
        tau1,
        'linear',
        alpha,
        num_subclasses=m,
        tail_tau2='tau1')
    np.testing.assert_allclose(tau_tail.numpy()[m == 1], tau1)
    np.testing.assert_allclose(tau_tail.numpy()[m > 1], tau_lin.numpy()[m > 1])

    tau_fix = class_temperature(z, labels, C, 0.07, 'fixed', fixed_tau2=0.12)
    np.testing.assert_allclose(tau_fix.numpy(), 0.12)

    # a class without samples gets tau1; it does not enter mean phi
    tau_gap = class_temperature(z, labels, C + 1, tau1, 'exp', alpha)
    assert tau_gap[C].item() == pytest.approx(tau1)
    np.testing.assert_allclose(tau_gap[:C].numpy(), tau_exp.numpy(), rtol=1e-6)


def test_class_temperature_errors():
    z, y = torch.randn(4, 3), torch.tensor([0, 0, 1, 1])
    with pytest.raises(ValueError, match='mode'):
        class_temperature(z, y, 2, 0.1, mode='cosine')
    with pytest.raises(ValueError, match='fixed_tau2'):
        class_temperature(z, y, 2, 0.1, mode='fixed')
    with pytest.raises(ValueError, match='clip_percentiles'):
        class_temperature(z, y, 2, 0.1, clip_percentiles=(80, 20))
    with pytest.raises(ValueError, match='tau1'):
        class_temperature(z, y, 2, 0.0)
