# Copyright (c) ltcls contributors. All rights reserved.
"""mine_hard_pairs (top-k selection) against the stable-sort selection it
replaced, on inputs with many exact ties, infinities and empty slots."""
import pytest
import torch

from ltcls.models.losses.hard_pair_mining import mine_hard_pairs


def sort_mine(similarity, anchor_labels, key_labels, num_pos, num_neg):
    """The previous implementation: two full stable sorts of the row."""
    m = similarity.shape[1]
    num_pos, num_neg = min(num_pos, m), min(num_neg, m)
    key_valid = (key_labels >= 0).unsqueeze(0)
    is_pos = (anchor_labels.view(-1, 1) == key_labels.view(1, -1)) & key_valid
    is_neg = key_valid & ~is_pos
    sim = similarity.detach()
    pos_key = sim.masked_fill(~is_pos, float('inf'))
    pos_idx = torch.sort(pos_key, dim=1, stable=True).indices[:, :num_pos]
    neg_key = sim.masked_fill(~is_neg, float('-inf'))
    neg_idx = torch.sort(
        neg_key, dim=1, descending=True, stable=True).indices[:, :num_neg]
    return (similarity.gather(1, pos_idx), is_pos.gather(1, pos_idx),
            similarity.gather(1, neg_idx), is_neg.gather(1, neg_idx))


def _probe(fn, sim, alab, klab, qp, qn, seed):
    """Outputs and the gradient of a random weighting of the selected
    columns: equal gradients mean the same indices in the same order."""
    s = sim.clone().requires_grad_()
    ps, pv, ns, nv = fn(s, alab, klab, qp, qn)
    g = torch.Generator().manual_seed(seed)
    r1 = torch.rand(ps.shape, generator=g, dtype=s.dtype)
    r2 = torch.rand(ns.shape, generator=g, dtype=s.dtype)
    ((ps * r1).sum() + (ns * r2).sum()).backward()
    return ps.detach(), pv, ns.detach(), nv, s.grad


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('seed', range(6))
def test_equals_stable_sort_with_many_ties(dtype, seed):
    g = torch.Generator().manual_seed(seed)
    a, m, c = 9, 40, 4
    # few distinct values: most entries tie exactly with others
    sim = (torch.randint(-3, 4, (a, m), generator=g) / 4).to(dtype)
    sim[0, :5] = float('inf')
    sim[1, 3:9] = float('-inf')
    alab = torch.randint(0, c, (a, ), generator=g)
    klab = torch.randint(-1, c, (m, ), generator=g)  # -1: empty slots
    klab[:3] = alab[2]
    for qp, qn in [(0, 0), (1, 1), (2, 5), (3, 17), (8, 40), (50, 60)]:
        new = _probe(mine_hard_pairs, sim, alab, klab, qp, qn, seed)
        old = _probe(sort_mine, sim, alab, klab, qp, qn, seed)
        for x, y in zip(new, old):
            assert x.dtype == y.dtype and x.shape == y.shape
            assert torch.equal(x, y), (qp, qn)


def test_all_tied_and_all_empty():
    sim = torch.zeros(5, 12)
    alab = torch.tensor([0, 1, 2, 0, 1])
    for klab in (torch.full((12, ), -1), torch.arange(12) % 3):
        for qp, qn in [(1, 3), (4, 4), (12, 12)]:
            new = _probe(mine_hard_pairs, sim, alab, klab, qp, qn, 0)
            old = _probe(sort_mine, sim, alab, klab, qp, qn, 0)
            for x, y in zip(new, old):
                assert torch.equal(x, y)


def test_continuous_inputs_match():
    g = torch.Generator().manual_seed(0)
    sim = torch.randn(16, 300, generator=g, dtype=torch.float64)
    alab = torch.randint(0, 10, (16, ), generator=g)
    klab = torch.arange(300) // 30
    new = _probe(mine_hard_pairs, sim, alab, klab, 1, 100, 1)
    old = _probe(sort_mine, sim, alab, klab, 1, 100, 1)
    for x, y in zip(new, old):
        assert torch.equal(x, y)


def test_nan_negative_is_mined():
    sim = torch.zeros(2, 6)
    sim[0, 4] = float('nan')
    alab = torch.tensor([0, 1])
    klab = torch.tensor([0, 1, 1, 1, 1, 1])
    _, _, ns, nv = mine_hard_pairs(sim, alab, klab, 1, 2)
    assert torch.isnan(ns[0, 0]) and nv[0, 0]


def test_exported_from_losses():
    from ltcls.models import losses
    assert losses.mine_hard_pairs is mine_hard_pairs


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('seed', range(6))
def test_index_order_is_the_same_selection(dtype, seed):
    """order='index' (ResCom's): the stable-sort selection, in increasing
    key index, on inputs with many exact ties, +-inf and empty slots; the
    gradient of each selected entry is the same."""
    g = torch.Generator().manual_seed(seed)
    a, m, c = 9, 40, 4
    sim = (torch.randint(-3, 4, (a, m), generator=g) / 4).to(dtype)
    sim[0, :5] = float('inf')
    sim[1, 3:9] = float('-inf')
    sim[2, 10:] = float('-inf')
    alab = torch.randint(0, c, (a, ), generator=g)
    klab = torch.randint(-1, c, (m, ), generator=g)
    klab[:3] = alab[2]
    for qp, qn in [(0, 0), (1, 1), (2, 5), (3, 17), (8, 40), (50, 60)]:
        s = sim.clone().requires_grad_()
        ps, pv, ns, nv = mine_hard_pairs(s, alab, klab, qp, qn, order='index')
        # the reference selection, its columns put in key-index order
        s_ref = sim.clone().requires_grad_()
        rps, rpv, rns, rnv = sort_mine(s_ref, alab, klab, qp, qn)
        mq, nq = min(qp, m), min(qn, m)
        key_valid = (klab >= 0).unsqueeze(0)
        is_pos = (alab.view(-1, 1) == klab.view(1, -1)) & key_valid
        p_ref = torch.sort(sim.masked_fill(~is_pos, float('inf')), dim=1,
                           stable=True).indices[:, :mq]
        n_ref = torch.sort(
            sim.masked_fill(~(key_valid & ~is_pos), float('-inf')), dim=1,
            descending=True, stable=True).indices[:, :nq]
        p_perm = p_ref.sort(1).indices
        n_perm = n_ref.sort(1).indices
        for x, y in ((ps, rps.gather(1, p_perm)), (pv, rpv.gather(1, p_perm)),
                     (ns, rns.gather(1, n_perm)), (nv, rnv.gather(1, n_perm))):
            assert x.dtype == y.dtype and torch.equal(x, y), (qp, qn)
        # same entries selected: same gradient for any per-entry weight
        w = torch.rand(a, m, generator=g, dtype=dtype)
        (ps * w.gather(1, p_ref.sort(1).values)).sum().backward(
            retain_graph=True)
        (ns * w.gather(1, n_ref.sort(1).values)).sum().backward()
        ((rps * w.gather(1, p_ref)).sum() +
         (rns * w.gather(1, n_ref)).sum()).backward()
        assert torch.equal(s.grad, s_ref.grad), (qp, qn)


def test_bad_order():
    with pytest.raises(ValueError, match="order must be 'value' or 'index'"):
        mine_hard_pairs(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long),
                        torch.zeros(3, dtype=torch.long), 1, 1, order='x')


@pytest.mark.parametrize('m', [32767, 32768 + 5])
def test_wide_rows_int16_and_int32_counts(m):
    """The running counts are int16 up to M = 32767, int32 above: both
    equal the stable-sort selection on tie-heavy rows."""
    g = torch.Generator().manual_seed(m)
    sim = (torch.randint(-2, 3, (3, m), generator=g) / 2).to(torch.float64)
    alab = torch.tensor([0, 1, 2])
    klab = torch.randint(-1, 3, (m, ), generator=g)
    for qp, qn in [(2, 7), (40, m - 3)]:
        new = _probe(mine_hard_pairs, sim, alab, klab, qp, qn, 0)
        old = _probe(sort_mine, sim, alab, klab, qp, qn, 0)
        for x, y in zip(new, old):
            assert torch.equal(x, y), (m, qp, qn)
