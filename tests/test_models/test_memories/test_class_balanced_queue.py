# Copyright (c) ltcls contributors. All rights reserved.
"""ClassBalancedQueue (vectorised per-class FIFO) and mine_hard_pairs
against plain loops (spec_rescom.md §2.3-2.4)."""
import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses.hard_pair_mining import mine_hard_pairs
from ltcls.models.memories import ClassBalancedQueue
from ltcls.testing import run_distributed


class LoopQueue:
    """The official code's enqueue: one key at a time, in batch order."""

    def __init__(self, keys, filled, k, q):
        self.keys = keys.clone()
        self.filled = filled.clone()
        self.ptr = [0] * k
        self.q = q

    def enqueue(self, keys, labels):
        for key, c in zip(keys, labels.tolist()):
            slot = c * self.q + self.ptr[c]
            self.keys[slot] = F.normalize(key, dim=0)
            self.filled[slot] = True
            self.ptr[c] = (self.ptr[c] + 1) % self.q


@pytest.mark.parametrize('init', ['random', 'empty'])
def test_enqueue_matches_sequential_loop(init):
    torch.manual_seed(0)
    k, q, d = 5, 3, 4
    queue = ClassBalancedQueue(k, q, d, init=init)
    ref = LoopQueue(queue.keys, queue.filled, k, q)
    if init == 'empty':
        assert queue.num_filled() == 0
        assert (queue.snapshot().labels == -1).all()
    else:
        assert queue.num_filled() == k * q
        torch.testing.assert_close(queue.keys.norm(dim=1), torch.ones(k * q))
    g = torch.Generator().manual_seed(1)
    for step in range(6):
        b = int(torch.randint(1, 12, (1, ), generator=g))
        labels = torch.randint(0, k - 1, (b, ), generator=g)  # class 4 never
        if step == 2:
            labels = torch.full((9, ), 1)  # 9 > Q keys of one class: overflow
        keys = torch.randn(labels.numel(), d, generator=g)
        queue.enqueue(keys, labels)
        ref.enqueue(keys, labels)
        torch.testing.assert_close(queue.keys, ref.keys, atol=0, rtol=0)
        assert torch.equal(queue.filled, ref.filled)
        assert queue.ptr.tolist() == ref.ptr
    keys, labels = queue.snapshot()[:2]
    expected = torch.arange(k).repeat_interleave(q)
    expected = torch.where(queue.filled, expected,
                           torch.full_like(expected, -1))
    assert torch.equal(labels, expected)
    if init == 'empty':
        assert not queue.filled[4 * q:].any()  # class absent: never filled


def test_overflow_keeps_last_q_in_order():
    queue = ClassBalancedQueue(2, 3, 2, init='empty')
    queue.ptr[1] = 2
    keys = torch.tensor([[float(i), 1.] for i in range(7)])
    queue.enqueue(keys, torch.ones(7, dtype=torch.long))
    # keys 4, 5, 6 survive; key r goes to slot (2 + r) % 3 of class 1
    got = queue.keys[3:6, 0] / queue.keys[3:6, 1]
    assert got.tolist() == [4., 5., 6.] and queue.ptr.tolist() == [0, 0]
    assert not queue.filled[:3].any() and queue.filled[3:].all()


def test_bad_inputs():
    with pytest.raises(ValueError, match='size_per_class'):
        ClassBalancedQueue(3, 0, 4)
    with pytest.raises(ValueError, match='init'):
        ClassBalancedQueue(3, 2, 4, init='zeros')
    queue = ClassBalancedQueue(3, 2, 4)
    with pytest.raises(ValueError, match=r'\[0, 3\)'):
        queue.enqueue(torch.randn(2, 4), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match='keys must be'):
        queue.enqueue(torch.randn(2, 5), torch.tensor([0, 1]))


def test_state_dict_round_trip():
    queue = ClassBalancedQueue(3, 2, 4, init='empty')
    queue.enqueue(torch.randn(5, 4), torch.tensor([0, 0, 0, 2, 1]))
    sd = queue.state_dict()
    assert set(sd) == {'keys', 'ptr', 'filled'}
    other = ClassBalancedQueue(3, 2, 4, init='random')
    other.load_state_dict(sd)
    assert torch.equal(other.keys, queue.keys)
    assert torch.equal(other.snapshot().labels, queue.snapshot().labels)
    assert torch.equal(other.ptr, queue.ptr)


def reference_mine(sim, alab, klab, qp, qn):
    pos_idx, neg_idx = [], []
    for i in range(sim.shape[0]):
        y = int(alab[i])
        pos = sorted((float(sim[i, j]), j) for j in range(sim.shape[1])
                     if int(klab[j]) == y)
        neg = sorted((-float(sim[i, j]), j) for j in range(sim.shape[1])
                     if int(klab[j]) >= 0 and int(klab[j]) != y)
        pos_idx.append([j for _, j in pos[:qp]])
        neg_idx.append([j for _, j in neg[:qn]])
    return pos_idx, neg_idx


def test_mine_matches_loop_with_ties_and_empty_slots():
    g = torch.Generator().manual_seed(0)
    a, k, q = 6, 4, 5
    # quantised similarities -> many exact ties
    sim = torch.randint(-3, 4, (a, k * q), generator=g).double() / 4
    alab = torch.randint(0, k, (a, ), generator=g)
    klab = torch.arange(k).repeat_interleave(q)
    klab[[1, 2, 7, 13, 14]] = -1
    klab[15:] = -1  # class 3 absent
    alab[0] = 3
    for qp, qn in ((1, 3), (2, 7), (5, 30)):
        s = sim.clone().requires_grad_()
        ps, pv, ns, nv = mine_hard_pairs(s, alab, klab, qp, qn)
        ref_p, ref_n = reference_mine(sim, alab, klab, qp, qn)
        for i in range(a):
            n_p, n_n = len(ref_p[i]), len(ref_n[i])
            assert pv[i].tolist() == [True] * n_p + [False] * (
                min(qp, k * q) - n_p)
            assert nv[i].tolist() == [True] * n_n + [False] * (
                min(qn, k * q) - n_n)
            assert ps[i, :n_p].tolist() == [float(sim[i, j]) for j in ref_p[i]]
            assert ns[i, :n_n].tolist() == [float(sim[i, j]) for j in ref_n[i]]
        # gradient reaches exactly the chosen (valid) entries
        ((ps * pv).sum() + 2 * (ns * nv).sum()).backward()
        expected = torch.zeros_like(sim)
        for i in range(a):
            expected[i, ref_p[i]] += 1
            expected[i, ref_n[i]] += 2
        assert torch.equal(s.grad, expected)


# ---------------------------------------------------------------------------
def _dist_enqueue(rank, world_size):
    torch.manual_seed(0)
    queue = ClassBalancedQueue(4, 3, 2, init='empty')
    g = torch.Generator().manual_seed(7)
    for _ in range(4):
        keys = torch.randn(2 * 5, 2, generator=g)
        labels = torch.randint(0, 4, (2 * 5, ), generator=g)
        sl = slice(rank * 5, (rank + 1) * 5)
        queue.enqueue(keys[sl], labels[sl])
    return dict(keys=queue.keys, ptr=queue.ptr, filled=queue.filled)


def test_two_process_enqueue_equals_one_process():
    results = run_distributed(_dist_enqueue, 2)
    queue = ClassBalancedQueue(4, 3, 2, init='empty')
    g = torch.Generator().manual_seed(7)
    for _ in range(4):
        keys = torch.randn(10, 2, generator=g)
        labels = torch.randint(0, 4, (10, ), generator=g)
        queue.enqueue(keys, labels)
    for r in results:
        assert torch.equal(r['keys'], queue.keys)
        assert torch.equal(r['ptr'], queue.ptr)
        assert torch.equal(r['filled'], queue.filled)
