# Copyright (c) ltcls contributors. All rights reserved.
"""The row-sum paths of issue 13: the chunked in-place hash of
``select_positives`` against the plain expression (bit for bit, so the same
positives), ``memory_block_sums(num_classes=None)`` and
``own_plus_block_nce`` against dense float64 masks (values and gradients)."""
import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses.contrast_blocks import memory_block_sums
from ltcls.models.losses.multi_positive_nce import (multi_positive_nce,
                                                    own_plus_block_nce)

K = __import__('ltcls.models.losses.kcl_loss', fromlist=['x'])


def _old_select(same, pos_k, seed, step, row_offset):
    """select_positives('random') as written before issue 13."""
    n, k_len = same.shape
    rows = torch.arange(n).view(-1, 1) + row_offset
    cols = torch.arange(k_len).view(1, -1)
    keys = K._hash_keys(seed, step, rows, cols).masked_fill(~same, 1 << 32)
    idx = keys.topk(min(pos_k, k_len), dim=1, largest=False,
                    sorted=False).indices
    return torch.zeros_like(same).scatter_(1, idx, True) & same


@pytest.mark.parametrize('chunk', [1, 7, 64, 1 << 18])
@pytest.mark.parametrize('pos_k', [1, 3, 6, 40])
def test_candidate_keys_bit_exact(monkeypatch, chunk, pos_k):
    monkeypatch.setattr(K, '_CPU_CHUNK', chunk)
    g = torch.Generator().manual_seed(pos_k)
    n, k_len = 9, 301  # no chunk width divides 301
    labels = torch.randint(0, 4, (n, ), generator=g)
    ql = torch.randint(-1, 4, (k_len, ), generator=g)
    same = (labels[:, None] == ql[None]) & (ql >= 0)[None]
    rows = torch.arange(n) + 5
    keys = K._candidate_keys(123, 77, rows, same)
    ref = K._hash_keys(123, 77, rows.view(-1, 1),
                       torch.arange(k_len).view(1, -1))
    assert torch.equal(keys, ref.masked_fill(~same, 1 << 32))
    got = K.select_positives(same, pos_k, 'random', 123, 77, row_offset=5)
    assert torch.equal(got, _old_select(same, pos_k, 123, 77, 5))


@pytest.mark.parametrize('case', ['plain', 'empty', 'no_anchor_class'])
def test_memory_block_sums_anchor_buckets(case):
    g = torch.Generator().manual_seed(1)
    a, L, d, c = 8, 40, 5, 6
    z0 = F.normalize(torch.randn(a, d, generator=g, dtype=torch.float64), 1)
    keys = F.normalize(torch.randn(L, d, generator=g, dtype=torch.float64), 1)
    y = torch.randint(0, c, (a, ), generator=g) * 1000  # sparse label ids
    qlab = torch.randint(-1, c, (L, ), generator=g) * 1000
    qlab[qlab < 0] = -1
    if case == 'empty':
        qlab[:] = -1
    if case == 'no_anchor_class':
        qlab[qlab == y[0]] = 7  # a class no anchor has
    grads = []
    outs = []
    for nc in (None, 'dense'):
        z = z0.clone().requires_grad_(True)
        if nc is None:
            out = memory_block_sums(z, y, keys, qlab, 0.3, None)
        else:
            logits = z @ keys.t() / 0.3
            valid = (qlab >= 0)[None].expand_as(logits)
            pos = (y[:, None] == qlab[None]) & valid
            lse = torch.logsumexp(logits.masked_fill(~valid, float('-inf')),
                                  1) if valid.any() else \
                torch.full((a, ), float('-inf'), dtype=torch.float64)
            out = (lse, pos.sum(1).double(), (logits * pos).sum(1))
        outs.append(out)
        tot = out[2].sum() + torch.where(torch.isfinite(out[0]), out[0],
                                         0.).sum()
        tot.backward()
        grads.append(z.grad)
    for u, v in zip(*outs):
        torch.testing.assert_close(u, v, rtol=0, atol=1e-12)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize('own', [True, False])
@pytest.mark.parametrize('per_anchor_t', [True, False])
def test_own_plus_block_nce_matches_dense(own, per_anchor_t):
    g = torch.Generator().manual_seed(2)
    a, L = 6, 25
    sim0 = torch.randn(a, L, generator=g, dtype=torch.float64)
    own0 = torch.randn(a, generator=g, dtype=torch.float64)
    valid = torch.rand(a, L, generator=g) > 0.3
    valid[0] = False  # a row without a valid block column
    pos = torch.rand(a, L, generator=g) > 0.6
    pos[1] = False  # a row without a block positive
    t = (0.1 + torch.rand(a, generator=g, dtype=torch.float64)) \
        if per_anchor_t else 0.2
    res = []
    for fast in (True, False):
        sim = sim0.clone().requires_grad_(True)
        o = own0.clone().requires_grad_(True)
        if fast:
            loss, has = own_plus_block_nce(sim, pos, valid, t,
                                           o if own else None)
        else:
            tt = t.view(-1, 1) if per_anchor_t else t
            logits = sim / tt
            if own:
                logits = torch.cat([o.view(-1, 1) / tt, logits], 1)
                ones = torch.ones(a, 1, dtype=torch.bool)
                p, v = torch.cat([ones, pos], 1), torch.cat([ones, valid], 1)
            else:
                p, v = pos, valid
            loss, has = multi_positive_nce(logits, p, v)
        loss.sum().backward()
        res.append((loss, has, sim.grad, o.grad))
    (l1, h1, g1, o1), (l2, h2, g2, o2) = res
    assert torch.equal(h1, h2)
    torch.testing.assert_close(l1, l2, rtol=0, atol=1e-12)
    torch.testing.assert_close(g1, g2, rtol=0, atol=1e-12)
    if own:
        torch.testing.assert_close(o1, o2, rtol=0, atol=1e-12)
    assert torch.isfinite(g1).all()
