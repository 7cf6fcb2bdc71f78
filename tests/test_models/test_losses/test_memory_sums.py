# Copyright (c) ltcls contributors. All rights reserved.
"""memory_block_sums (per-class key sums) against the dense (A, L) masks it
replaces: values and anchor gradients in float64."""
import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses.contrast_blocks import memory_block_sums


def dense(z, y, keys, qlab, t, bias=None, shift=0.0):
    logits = z @ keys.t() / t
    if bias is not None:
        n = bias.numel()
        known = (qlab >= 0) & (qlab < n)
        logits = logits + torch.where(known, bias[qlab.clamp(0, n - 1)], 0.)
    valid = (qlab >= 0)[None].expand_as(logits)
    pos = (y[:, None] == qlab[None]) & valid
    lse = torch.logsumexp((logits + shift).masked_fill(~valid, float('-inf')),
                          1)
    return lse, pos.sum(1).double(), (logits * pos).sum(1)


@pytest.mark.parametrize('case', ['plain', 'bias', 'shift', 'empty'])
def test_matches_dense_masks(case):
    g = torch.Generator().manual_seed(0)
    c, a, L, d = 5, 7, 30, 4
    z0 = F.normalize(torch.randn(a, d, generator=g, dtype=torch.float64), 1)
    keys = F.normalize(torch.randn(L, d, generator=g, dtype=torch.float64), 1)
    y = torch.randint(0, c, (a, ), generator=g)
    qlab = torch.randint(-1, c + 2, (L, ), generator=g)  # -1 and >= C too
    y[0] = c - 1
    qlab[qlab == c - 1] = -1  # class C-1: no positive in the queue
    if case == 'empty':
        qlab[:] = -1
    bias = torch.randn(c, generator=g, dtype=torch.float64) \
        if case == 'bias' else None
    shift = 0.7 if case == 'shift' else 0.0
    outs = []
    for fn in (memory_block_sums, None):
        z = z0.clone().requires_grad_()
        if fn is None:
            res = dense(z, y, keys, qlab, 0.2, bias, shift)
        else:
            res = fn(z, y, keys, qlab, 0.2, c, label_bias=bias, shift=shift)
        lse = res[0].masked_fill(res[0] == float('-inf'), 0.0)
        (lse.sum() + 3 * res[2].sum()).backward()
        outs.append([r.detach() for r in res] + [z.grad])
    if case == 'empty':
        # no filled slot: lse -inf, no positive, and a zero gradient (the
        # dense masked log-sum-exp has a NaN one there)
        assert torch.isinf(outs[0][0]).all() and (outs[0][0] < 0).all()
        assert not outs[0][1].any() and not outs[0][2].any()
        assert torch.equal(outs[0][3], torch.zeros_like(z0))
        return
    for x, r in zip(*outs):
        torch.testing.assert_close(x, r, rtol=1e-12, atol=1e-12)
    assert float(outs[0][1][0]) == 0.0


def test_bad_queue_shape():
    with pytest.raises(ValueError, match='queue_keys must be'):
        memory_block_sums(
            torch.zeros(2, 3),
            torch.zeros(2).long(), torch.zeros(4, 2),
            torch.zeros(4).long(), 0.1, 3)
