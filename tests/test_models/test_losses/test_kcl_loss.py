# Copyright (c) ltcls contributors. All rights reserved.
"""KCLLoss against an independent per-anchor loop; positive selection."""
import math

import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses import KCLLoss, kcl_loss, kcl_loss_per_anchor
from ltcls.models.losses.kcl_loss import select_positives
from ltcls.registry import MODELS
from ltcls.testing import run_distributed


def ref_kcl(q, k, labels, qk, ql, selected, t, variant='v1'):
    """Eq. 4 of the paper written per anchor. ``selected[i]`` is the set of
    queue slots used as positives for anchor i (``None`` = every filled
    same-class slot, i.e. FCL)."""
    losses = []
    for i in range(len(q)):
        same = [
            j for j in range(len(qk))
            if int(ql[j]) >= 0 and int(ql[j]) == int(labels[i])
        ]
        sel = same if selected[i] is None else sorted(selected[i])
        s_own = torch.dot(q[i], k[i]) / t
        col = {}
        for j in range(len(qk)):
            if int(ql[j]) < 0:
                continue  # empty slot: not in the denominator
            if variant == 'v2' and j in same and j not in sel:
                col[j] = q[i].sum() * 0  # similarity set to 0
            else:
                col[j] = torch.dot(q[i], qk[j]) / t
        denom = torch.log(
            torch.exp(s_own) + sum(torch.exp(v) for v in col.values()))
        terms = [s_own - denom] + [col[j] - denom for j in sel]
        losses.append(-sum(terms) / (1 + len(sel)))
    return torch.stack(losses)


def _case(seed, n=8, d=6, k_len=30, num_classes=3):
    g = torch.Generator().manual_seed(seed)
    q = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), 1)
    k = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), 1)
    labels = torch.randint(0, num_classes, (n, ), generator=g)
    labels[0] = num_classes + 5  # no same-class entry in the queue
    qk = F.normalize(
        torch.randn(k_len, d, generator=g, dtype=torch.float64), 1)
    ql = torch.randint(0, num_classes, (k_len, ), generator=g)
    ql[torch.rand(k_len, generator=g) < 0.3] = -1  # empty slots
    return q, k, labels, qk, ql


def _selected_sets(q, labels, qk, ql, pos_k, selection, step=0):
    same = (labels[:, None] == ql[None, :]) & (ql[None, :] >= 0)
    chosen = select_positives(same, pos_k, selection, 0, step, 0)
    return [set(torch.nonzero(r).flatten().tolist()) for r in chosen]


@pytest.mark.parametrize('variant', ['v1', 'v2'])
@pytest.mark.parametrize('selection', ['random', 'topk'])
@pytest.mark.parametrize('pos_k', [0, 2, 6, 100, None])
def test_matches_reference(pos_k, selection, variant):
    q, k, labels, qk, ql = _case(0)
    t = 0.2
    qg = q.clone().requires_grad_(True)
    per, has, num = kcl_loss_per_anchor(
        qg,
        k,
        labels,
        qk,
        ql,
        pos_k,
        t,
        selection,
        variant,
        step=3,
        row_offset=0)
    sel = [None] * len(q) if pos_k is None else _selected_sets(
        q, labels, qk, ql, pos_k, selection, step=3)
    qr = q.clone().requires_grad_(True)
    ref = ref_kcl(qr, k, labels, qk, ql, sel, t, variant)
    assert has.all()  # the own key is always a positive
    torch.testing.assert_close(per, ref, rtol=0, atol=1e-6)
    loss = kcl_loss(
        qg,
        k,
        labels,
        qk,
        ql,
        pos_k,
        t,
        selection,
        variant,
        step=3,
        row_offset=0)
    torch.testing.assert_close(loss, ref.mean(), rtol=0, atol=1e-6)
    loss.backward()
    ref.mean().backward()
    torch.testing.assert_close(qg.grad, qr.grad, rtol=0, atol=1e-6)
    # number of positives: min(k, P_i), P_i = filled same-class slots
    same_count = ((labels[:, None] == ql[None, :]) & (ql >= 0)).sum(1)
    expected = same_count if pos_k is None else same_count.clamp(max=pos_k)
    assert torch.equal(num, expected)
    assert num[0] == 0  # anchor 0 has no queue positive


def test_k_zero_is_moco_infonce():
    q, k, labels, qk, ql = _case(1)
    ql = torch.randint(0, 3, ql.shape)  # full queue
    t = 0.07
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ qk.t()], 1) / t
    moco = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))
    got = kcl_loss(q, k, labels, qk, ql, pos_k=0, temperature=t, row_offset=0)
    assert abs(float(got) - float(moco)) < 1e-10


def test_weight_is_one_over_k_plus_one_and_unselected_stay_negative():
    # one anchor, label 0; queue: 5 same-class slots, 3 others
    d = 4
    g = torch.Generator().manual_seed(2)
    q = F.normalize(torch.randn(1, d, generator=g, dtype=torch.float64), 1)
    k = F.normalize(torch.randn(1, d, generator=g, dtype=torch.float64), 1)
    qk = F.normalize(torch.randn(8, d, generator=g, dtype=torch.float64), 1)
    ql = torch.tensor([0, 1, 0, 0, 2, 0, 1, 0])
    t = 0.5
    s = torch.cat([(q * k).sum(1), (q @ qk.t())[0]]) / t
    lse = torch.logsumexp(s, 0)  # every filled slot in the denominator
    _, _, num = kcl_loss_per_anchor(
        q, k, torch.tensor([0]), qk, ql, 2, t, 'topk', row_offset=0)
    chosen = select_positives((ql == 0)[None], 2, 'topk')[0]
    pos_cols = torch.tensor([0] + [1 + int(j) for j in torch.nonzero(chosen)])
    expected = -(s[pos_cols] - lse).sum() / 3  # 1 / (k + 1), k = 2
    got = kcl_loss(q, k, torch.tensor([0]), qk, ql, 2, t, 'topk', row_offset=0)
    assert int(num) == 2
    assert abs(float(got) - float(expected)) < 1e-10


def test_empty_queue_is_own_key_only():
    q, k, labels, qk, _ = _case(3)
    ql = torch.full((len(qk), ), -1)
    got = kcl_loss(q, k, labels, qk, ql, row_offset=0)
    # only the own key in the softmax -> log 1 = 0
    assert abs(float(got)) < 1e-12 and torch.isfinite(got)


def test_official_topk_selection_code_parity():
    g = torch.Generator().manual_seed(4)
    same = torch.rand(6, 40, generator=g) < 0.3
    ours = select_positives(same, 4, 'topk')
    # the official code: topk on the float mask, scatter, mask again
    gt_mask = same.float()
    _, pred = gt_mask.topk(4, 1, True, True)
    posk = torch.zeros(6, 40).scatter_(1, pred, 1.) * gt_mask
    assert torch.equal(ours, posk.bool())


def test_random_selection_properties():
    g = torch.Generator().manual_seed(5)
    same = torch.rand(5, 50, generator=g) < 0.4
    same[0] = False
    same[1, :] = False
    same[1, :3] = True  # fewer than k
    a = select_positives(same, 6, 'random', seed=1, step=7)
    assert torch.equal(a, select_positives(same, 6, 'random', 1, 7))
    assert not (a & ~same).any()
    assert torch.equal(a.sum(1), same.sum(1).clamp(max=6))
    assert torch.equal(a[1], same[1])
    assert not torch.equal(a, select_positives(same, 6, 'random', 1, 8))
    assert not torch.equal(a, select_positives(same, 6, 'random', 2, 7))
    # rank invariance: rows 2.. of the global batch seen from another rank
    part = select_positives(same[2:], 6, 'random', 1, 7, row_offset=2)
    assert torch.equal(part, a[2:])
    # does not consume or depend on the torch RNG
    torch.manual_seed(0)
    state = torch.get_rng_state()
    select_positives(same, 6, 'random', 1, 7)
    assert torch.equal(state, torch.get_rng_state())
    # independent per anchor: identical rows pick different subsets
    twin = same[2:3].expand(4, -1).clone()
    rows = select_positives(twin, 3, 'random', 0, 0)
    assert len({tuple(r.tolist()) for r in rows}) > 1


def test_random_selection_is_uniform():
    # 1 anchor, 10 same-class slots, k = 3 -> each slot w.p. 0.3
    same = torch.zeros(1, 16, dtype=torch.bool)
    same[0, 3:13] = True
    steps = 4000
    counts = torch.zeros(16)
    for step in range(steps):
        counts += select_positives(same, 3, 'random', 0, step)[0].float()
    freq = counts[3:13] / steps
    # binomial sd = sqrt(.3 * .7 / 4000) ~ 0.0072: 5 sd
    assert (freq - 0.3).abs().max() < 0.036
    assert counts[:3].sum() == 0 and counts[13:].sum() == 0


def test_fp16_and_module():
    q, k, labels, qk, ql = _case(6)
    module = MODELS.build(
        dict(type='KCLLoss', pos_k=2, temperature=0.1, loss_weight=0.5))
    half = module(q.half(), k.half(), labels, qk.half(), ql, step=1)
    full = module(
        q.half().float(),
        k.half().float(),
        labels,
        qk.half().float(),
        ql,
        step=1)
    assert half.dtype == torch.float32 and torch.isfinite(half)
    torch.testing.assert_close(half, full, rtol=1e-3, atol=1e-3)
    plain = kcl_loss(q, k, labels, qk, ql, 2, 0.1, step=1, row_offset=0)
    torch.testing.assert_close(
        module(q, k, labels, qk, ql, step=1), 0.5 * plain, rtol=0, atol=1e-12)


def test_bad_args():
    q, k, labels, qk, ql = _case(7)
    with pytest.raises(ValueError, match='pos_k'):
        KCLLoss(pos_k=-1)
    with pytest.raises(ValueError, match='pos_selection'):
        KCLLoss(pos_selection='first')
    with pytest.raises(ValueError, match='variant'):
        KCLLoss(variant='v3')
    with pytest.raises(ValueError, match='temperature'):
        KCLLoss(temperature=0.0)
    with pytest.raises(ValueError, match='key'):
        kcl_loss(q, k[:3], labels, qk, ql)
    with pytest.raises(ValueError, match='queue_labels'):
        kcl_loss(q, k, labels, qk, ql[:-1])
    with pytest.raises(ValueError, match='labels must be >= 0'):
        kcl_loss(q, k, labels - 10, qk, ql)


# --- 2 processes == 1 process on the same global batch -------------------
SPLIT = (5, 3)


def _global_batch():
    q, k, labels, qk, ql = _case(8, n=sum(SPLIT))
    g = torch.Generator().manual_seed(9)
    x = torch.randn(sum(SPLIT), 5, generator=g, dtype=torch.float64)
    w = torch.randn(5, q.shape[1], generator=g, dtype=torch.float64)
    return x, w, k, labels, qk, ql


def _forward(x, w, k, labels, qk, ql):
    q = F.normalize(x @ w, dim=1)
    return kcl_loss(
        q,
        k,
        labels,
        qk,
        ql,
        pos_k=2,
        temperature=0.1,
        pos_selection='random',
        seed=3,
        step=11)


def _dist_kcl(rank, world_size):
    x, w, k, labels, qk, ql = _global_batch()
    start = sum(SPLIT[:rank])
    sl = slice(start, start + SPLIT[rank])
    w = w.clone().requires_grad_(True)
    loss = _forward(x[sl], w, k[sl], labels[sl], qk, ql)
    loss.backward()
    torch.distributed.all_reduce(w.grad)
    return dict(loss=loss.detach(), w_grad=w.grad / world_size)


def test_two_process_equals_single_process():
    x, w, k, labels, qk, ql = _global_batch()
    w = w.clone().requires_grad_(True)
    single = _forward(x, w, k, labels, qk, ql)
    single.backward()
    res = run_distributed(_dist_kcl, 2)
    mean = (res[0]['loss'] + res[1]['loss']) / 2
    torch.testing.assert_close(mean, single.detach(), rtol=0, atol=1e-10)
    for r in res:
        torch.testing.assert_close(r['w_grad'], w.grad, rtol=0, atol=1e-10)
    assert math.isfinite(float(single.detach()))


@pytest.mark.parametrize('variant', ['v1', 'v2'])
@pytest.mark.parametrize('selection', ['random', 'topk'])
def test_gradient_all_ties_and_empty_slots(selection, variant):
    """Every filled slot has the same class (maximal ties for ``topk``),
    some slots are empty and one anchor has no queue positive: loss and
    gradient equal the per-anchor reference for the chosen sets."""
    q, k, labels, qk, ql = _case(7)
    ql = torch.where(ql >= 0, torch.ones_like(ql), ql)
    labels[1:] = 1
    t = 0.15
    sel = _selected_sets(q, labels, qk, ql, 3, selection, step=2)
    assert all(len(s) == 3 for s in sel[1:]) and not sel[0]
    qg = q.clone().requires_grad_(True)
    loss = kcl_loss(qg, k, labels, qk, ql, 3, t, selection, variant,
                    step=2, row_offset=0)
    qr = q.clone().requires_grad_(True)
    ref = ref_kcl(qr, k, labels, qk, ql, sel, t, variant).mean()
    torch.testing.assert_close(loss, ref, rtol=0, atol=1e-6)
    loss.backward()
    ref.backward()
    torch.testing.assert_close(qg.grad, qr.grad, rtol=0, atol=1e-6)
