# Copyright (c) ltcls contributors. All rights reserved.
"""contrast_blocks: every block against an independent per-entry loop, the
canonical cross-rank order of gather_bank (2 processes == 1 process), and
the compute-dtype rule."""
import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses.contrast_blocks import (batch_block, concat_blocks,
                                                 gather_bank, match_labels,
                                                 memory_block_of,
                                                 own_key_block)
from ltcls.models.losses.utils import compute_dtype_of
from ltcls.testing import run_distributed


def _unit(g, *shape):
    return F.normalize(
        torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


def test_blocks_match_entrywise_loops():
    g = torch.Generator().manual_seed(0)
    n, d, k, t = 5, 4, 6, 0.3
    q, key, mem = _unit(g, n, d), _unit(g, n, d), _unit(g, k, d)
    y = torch.tensor([0, 1, 0, 2, 1])
    sub = torch.tensor([0, 2, 1, 4, 2])
    qy = torch.tensor([1, -1, 0, 2, -1, 0])
    qs = torch.tensor([2, -1, 0, -1, -1, 1])
    bank = gather_bank(q, (y, sub), gather=False)
    assert torch.equal(bank.self_cols, torch.arange(n))
    blocks = [
        own_key_block(q, key, (y, sub), t),
        batch_block(q, bank, t),
        memory_block_of(q, mem, (qy, None), t)
    ]
    logits, valid = concat_blocks(blocks)
    same_y = match_labels(blocks, y, 0)
    same_s = match_labels(blocks, sub, 1)
    assert logits.shape == valid.shape == same_y.shape == (n, 1 + n + k)
    for i in range(n):
        cols = [(key[i], True, int(y[i]), int(sub[i]))]
        cols += [(q[j], j != i, int(y[j]), int(sub[j])) for j in range(n)]
        cols += [(mem[j], int(qy[j]) >= 0, int(qy[j]), None)
                 for j in range(k)]
        for c, (vec, ok, cy, cs) in enumerate(cols):
            assert abs(float(logits[i, c]) -
                       float(torch.dot(q[i], vec)) / t) < 1e-12
            assert bool(valid[i, c]) == ok
            assert bool(same_y[i, c]) == (ok and cy == int(y[i]))
            assert bool(same_s[i, c]) == (ok and cs is not None
                                          and cs == int(sub[i]))


def test_blocks_gradients_and_dtype():
    g = torch.Generator().manual_seed(1)
    q = _unit(g, 4, 3).requires_grad_(True)
    key = _unit(g, 4, 3).requires_grad_(True)
    mem = _unit(g, 5, 3).requires_grad_(True)
    y = torch.tensor([0, 0, 1, 1])
    blocks = [
        own_key_block(q, key, (y, )),
        batch_block(q, gather_bank(q, (y, ), gather=False)),
        memory_block_of(q, mem, (torch.arange(5), ))
    ]
    concat_blocks(blocks)[0].sum().backward()
    assert key.grad is None and mem.grad is None  # keys: no gradient
    # d/dq_i of q_i.k_i + sum_j q_i.q_j + sum_j q_j.q_i + sum_l q_i.m_l
    expected = key.detach() + 2 * q.detach().sum(0) + mem.detach().sum(0)
    torch.testing.assert_close(q.grad, expected, rtol=0, atol=1e-12)
    for dtype, want in ((torch.float64, torch.float64),
                        (torch.float32, torch.float32),
                        (torch.float16, torch.float32),
                        (torch.bfloat16, torch.float32)):
        assert compute_dtype_of(torch.zeros(1, dtype=dtype)) == want
        bank = gather_bank(torch.zeros(2, 3, dtype=dtype), (y[:2], ))
        assert bank.rows.dtype == want


def test_gather_bank_checks_num_views():
    with pytest.raises(ValueError, match='num_views=2 must be >= 1 and '
                       'divide the 3 rows'):
        gather_bank(torch.zeros(3, 2), (torch.zeros(3).long(), ),
                    num_views=2)


# --- 2 processes == 1 process: canonical order, offsets, gradients -------
SPLIT = (3, 2)  # samples per rank, 2 views each


def _global():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(sum(SPLIT), 2, 3, generator=g, dtype=torch.float64)
    return x, torch.arange(sum(SPLIT)) * 10


def _flat(x, y):  # view-major rows of the local samples
    return x.transpose(0, 1).reshape(-1, x.shape[-1]), y.repeat(2)


def _dist_bank(rank, world_size):
    x, y = _global()
    start = sum(SPLIT[:rank])
    xl = x[start:start + SPLIT[rank]].clone().requires_grad_(True)
    rows, labels = _flat(xl, y[start:start + SPLIT[rank]])
    inst = torch.arange(rows.shape[0]) % SPLIT[rank]
    bank = gather_bank(
        rows, (labels, inst), gather=True, num_views=2, offset_fields=(1, ))
    weight = torch.arange(bank.rows.numel(), dtype=torch.float64)
    (bank.rows.flatten() * weight).sum().backward()
    return dict(
        rows=bank.rows.detach(),
        labels=bank.labels[0],
        inst=bank.labels[1],
        anchor_inst=bank.anchor_labels[1],
        self_cols=bank.self_cols,
        grad=xl.grad)


def test_gather_bank_two_process_canonical_order():
    x, y = _global()
    xs = x.clone().requires_grad_(True)
    rows, labels = _flat(xs, y)
    single = gather_bank(rows, (labels, ), gather=True, num_views=2)
    weight = torch.arange(single.rows.numel(), dtype=torch.float64)
    (single.rows.flatten() * weight).sum().backward()
    res = run_distributed(_dist_bank, 2)
    n_total = sum(SPLIT)
    for rank, r in enumerate(res):
        # the canonical order is the 1-process order, on every rank
        assert torch.equal(r['rows'], single.rows.detach())
        assert torch.equal(r['labels'], labels)
        start = sum(SPLIT[:rank])
        local = torch.arange(start, start + SPLIT[rank])
        assert torch.equal(r['self_cols'],
                           torch.cat([local, local + n_total]))
        # rank-local instance ids made global by the row offset
        offset = 2 * start
        assert torch.equal(r['anchor_inst'],
                           torch.arange(2 * SPLIT[rank]) % SPLIT[rank] +
                           offset)
    assert torch.equal(res[0]['inst'], res[1]['inst'])
    # each rank's gradient is the sum over both ranks' losses: 2 x single
    grad = torch.cat([r['grad'] for r in res]) / 2
    torch.testing.assert_close(grad, xs.grad, rtol=0, atol=1e-12)
