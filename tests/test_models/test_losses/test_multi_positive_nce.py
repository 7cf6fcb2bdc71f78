# Copyright (c) ltcls contributors. All rights reserved.
"""multi_positive_nce and reduce_anchor_loss against per-anchor loops."""
import math

import pytest
import torch

from ltcls.models.losses import multi_positive_nce, reduce_anchor_loss
from ltcls.testing import run_distributed


def ref_multi_positive_nce(logits, weight, valid):
    """Plain per-anchor loop (autograd through Python scalars)."""
    losses, has_pos = [], []
    n, m = logits.shape
    for i in range(n):
        cols = [j for j in range(m) if bool(valid[i, j])]
        w_sum = sum(float(weight[i, j]) for j in cols)
        if not cols or w_sum == 0:
            losses.append(logits[i, 0] * 0.0)
            has_pos.append(False)
            continue
        denom = torch.log(sum(torch.exp(logits[i, j]) for j in cols))
        li = 0.0
        for j in cols:
            if float(weight[i, j]) > 0:
                li = li - float(weight[i, j]) * (logits[i, j] - denom)
        losses.append(li / w_sum)
        has_pos.append(True)
    return torch.stack(losses), torch.tensor(has_pos)


def _random_case(seed, n=7, m=11):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, m, generator=g, dtype=torch.float64) * 3
    weight = torch.rand(n, m, generator=g, dtype=torch.float64)
    weight = weight * (torch.rand(n, m, generator=g) < 0.4)
    weight[0] = 0  # no positive at all
    valid = torch.rand(n, m, generator=g) < 0.8
    valid[1] = False  # no valid column at all
    weight[2, :] = 0
    weight[2, 3] = 1.0
    valid[2, 3] = False  # its only positive is masked out
    return logits, weight, valid


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_matches_reference_loss_and_grad(seed):
    logits, weight, valid = _random_case(seed)
    x = logits.clone().requires_grad_(True)
    loss, has_pos = multi_positive_nce(x, weight, valid)
    x_ref = logits.clone().requires_grad_(True)
    ref, ref_has = ref_multi_positive_nce(x_ref, weight, valid)
    assert loss.dtype == torch.float64
    assert torch.equal(has_pos, ref_has)
    assert not has_pos[:3].any()
    torch.testing.assert_close(loss, ref, rtol=0, atol=1e-6)
    (loss * torch.arange(1., 8, dtype=torch.float64)).sum().backward()
    (ref * torch.arange(1., 8, dtype=torch.float64)).sum().backward()
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=0, atol=1e-6)


def test_one_dim_valid_mask_and_default():
    logits, weight, _ = _random_case(3)
    col_valid = torch.tensor([True] * 8 + [False] * 3)
    a, _ = multi_positive_nce(logits, weight, col_valid)
    b, _ = multi_positive_nce(logits, weight, col_valid.expand(7, -1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    c, _ = multi_positive_nce(logits, weight)
    d, _ = ref_multi_positive_nce(logits, weight, torch.ones(7, 11))
    torch.testing.assert_close(c, d, rtol=0, atol=1e-6)


def test_closed_form_single_positive():
    # one positive of weight 1 -> cross entropy
    logits = torch.tensor([[2.0, 0.0, -1.0]], dtype=torch.float64)
    loss, _ = multi_positive_nce(logits, torch.tensor([[1., 0, 0]]))
    expected = -2.0 + math.log(math.exp(2) + 1 + math.exp(-1))
    assert abs(float(loss) - expected) < 1e-12


def test_fp16_input():
    logits, weight, valid = _random_case(4)
    half, _ = multi_positive_nce((logits * 8).half(), weight.half(), valid)
    full, _ = multi_positive_nce((logits * 8).half().float(), weight.float(),
                                 valid)
    assert half.dtype == torch.float32
    assert torch.isfinite(half).all()
    torch.testing.assert_close(half, full, rtol=1e-3, atol=1e-3)


def test_bad_input():
    with pytest.raises(ValueError, match='logits'):
        multi_positive_nce(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match='pos_weight'):
        multi_positive_nce(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match='valid_mask'):
        multi_positive_nce(
            torch.zeros(2, 3), torch.zeros(2, 3),
            torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match='non-negative'):
        multi_positive_nce(torch.zeros(2, 3), -torch.ones(2, 3))


def test_reduce_single_process():
    loss = torch.tensor([1.0, 0.0, 3.0, 5.0], requires_grad=True)
    has = torch.tensor([True, False, True, True])
    out = reduce_anchor_loss(loss, has)
    assert abs(float(out.detach()) - 3.0) < 1e-7
    w = torch.tensor([1.0, 1.0, 2.0, 0.0])
    weighted = reduce_anchor_loss(loss, has, w).detach()
    assert abs(float(weighted) - 7.0 / 3) < 1e-6
    none = reduce_anchor_loss(loss, torch.zeros(4, dtype=torch.bool))
    assert float(none) == 0.0
    none.backward()  # the graph is kept, gradient is zero
    assert torch.equal(loss.grad, torch.zeros(4))


# rank 0 has 3 anchors with positives, rank 1 has 1
GLOBAL_LOSS = torch.tensor([1.0, 2.0, 4.0, 0.0, 8.0], dtype=torch.float64)
GLOBAL_HAS = torch.tensor([True, True, True, False, True])
SPLIT = (3, 2)


def _dist_reduce(rank, world_size):
    start = sum(SPLIT[:rank])
    sl = slice(start, start + SPLIT[rank])
    x = GLOBAL_LOSS[sl].clone().requires_grad_(True)
    out = reduce_anchor_loss(x, GLOBAL_HAS[sl])
    out.backward()
    return dict(loss=out.detach(), grad=x.grad)


def test_reduce_two_process_equals_single():
    x = GLOBAL_LOSS.clone().requires_grad_(True)
    single = reduce_anchor_loss(x, GLOBAL_HAS)
    single.backward()
    res = run_distributed(_dist_reduce, 2)
    # DDP averages over ranks
    mean = sum(r['loss'] for r in res) / 2
    torch.testing.assert_close(mean, single.detach(), rtol=0, atol=1e-12)
    grads = torch.cat([r['grad'] for r in res]) / 2
    torch.testing.assert_close(grads, x.grad, rtol=0, atol=1e-12)


def test_minus_inf_logits_without_weight():
    # callers may pass pre-masked logits (-inf) where the weight is 0:
    # the loss must stay finite and equal the loop over the other columns
    logits, weight, valid = _random_case(5)
    logits = logits.clone()
    inf_cells = (weight == 0) & (torch.rand(7, 11) < 0.3)
    logits[inf_cells] = float('-inf')
    x = logits.clone().requires_grad_(True)
    loss, has_pos = multi_positive_nce(x, weight, valid)
    ref, ref_has = ref_multi_positive_nce(logits, weight, valid & ~inf_cells)
    assert torch.equal(has_pos, ref_has)
    torch.testing.assert_close(loss[ref_has], ref[ref_has], rtol=0, atol=1e-6)
    assert torch.isfinite(loss).all()
    loss.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_masked_logsumexp_rows_without_valid_column():
    from ltcls.models.losses.multi_positive_nce import masked_logsumexp
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    valid = torch.tensor([[True, False, True, True], [False] * 4,
                          [True] * 4])
    lse = masked_logsumexp(x, valid)
    ref = torch.logsumexp(x.detach().masked_fill(~valid, float('-inf')), 1)
    assert torch.equal(lse.detach(), ref)
    lse[[0, 2]].sum().backward()
    assert torch.isfinite(x.grad).all() and not x.grad[1].any()
