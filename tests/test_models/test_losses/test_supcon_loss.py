# Copyright (c) ltcls contributors. All rights reserved.
"""SupConLoss / FCL against an independent per-anchor loop."""
import math

import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses import (SupConLoss, flatten_views, supcon_loss,
                                 supcon_loss_per_anchor)
from ltcls.registry import MODELS
from ltcls.testing import run_distributed


def ref_supcon(feats, labels, queue_keys=None, queue_labels=None, t=0.07):
    """SupCon by definition: for each anchor i, contrast set = every other
    row of the batch plus every filled queue slot; positives = same label.
    Returns (per-anchor losses, has_pos) and the mean over anchors with
    positives."""
    cols = [(feats[j], int(labels[j]), j) for j in range(len(feats))]
    if queue_keys is not None:
        cols += [(queue_keys[j], int(queue_labels[j]), None)
                 for j in range(len(queue_keys)) if int(queue_labels[j]) >= 0]
    losses, has = [], []
    for i in range(len(feats)):
        others = [(k, y) for k, y, j in cols if j != i]
        denom = torch.log(
            sum(torch.exp(torch.dot(feats[i], k) / t) for k, _ in others))
        pos = [k for k, y in others if y == int(labels[i])]
        if not pos:
            losses.append(feats[i].sum() * 0)
            has.append(False)
            continue
        li = -sum(torch.dot(feats[i], k) / t - denom for k in pos) / len(pos)
        losses.append(li)
        has.append(True)
    losses = torch.stack(losses)
    has = torch.tensor(has)
    mean = losses[has].sum() / has.sum() if has.any() else losses.sum() * 0
    return losses, has, mean


def _case(seed, n=9, d=5, k=6, num_classes=4):
    g = torch.Generator().manual_seed(seed)
    feats = F.normalize(
        torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)
    labels = torch.randint(0, num_classes, (n, ), generator=g)
    labels[0] = num_classes + 3  # a class with a single sample
    qk = F.normalize(
        torch.randn(k, d, generator=g, dtype=torch.float64), dim=1)
    ql = torch.randint(0, num_classes, (k, ), generator=g)
    ql[::2] = -1  # empty slots
    return feats, labels, qk, ql


@pytest.mark.parametrize('with_queue', [False, True])
@pytest.mark.parametrize('seed', [0, 1])
def test_matches_reference(seed, with_queue):
    feats, labels, qk, ql = _case(seed)
    if not with_queue:
        qk = ql = None
    x = feats.clone().requires_grad_(True)
    per, has = supcon_loss_per_anchor(x, labels, qk, ql, 0.1)
    loss = supcon_loss(x, labels, qk, ql, temperature=0.1)
    xr = feats.clone().requires_grad_(True)
    ref_per, ref_has, ref = ref_supcon(xr, labels, qk, ql, 0.1)
    assert torch.equal(has, ref_has) and not has[0]
    torch.testing.assert_close(per, ref_per, rtol=0, atol=1e-6)
    torch.testing.assert_close(loss, ref, rtol=0, atol=1e-6)
    loss.backward()
    ref.backward()
    torch.testing.assert_close(x.grad, xr.grad, rtol=0, atol=1e-6)


def test_queue_empty_slots_change_nothing():
    feats, labels, qk, ql = _case(3)
    empty = torch.full_like(ql, -1)
    a = supcon_loss(feats, labels, qk, empty)
    b = supcon_loss(feats, labels)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_views_layout():
    g = torch.Generator().manual_seed(5)
    feats = F.normalize(
        torch.randn(4, 2, 3, generator=g, dtype=torch.float64), dim=-1)
    labels = torch.tensor([0, 1, 0, 2])
    flat, flat_labels = flatten_views(feats, labels)
    assert torch.equal(flat[5], feats[1, 1])  # row v * N + i
    assert flat_labels.tolist() == [0, 1, 0, 2, 0, 1, 0, 2]
    _, _, ref = ref_supcon(flat, flat_labels)
    torch.testing.assert_close(
        supcon_loss(feats, labels), ref, rtol=0, atol=1e-6)


def test_no_positive_anywhere_is_zero_not_nan():
    feats = F.normalize(torch.randn(4, 3, dtype=torch.float64), dim=1)
    feats.requires_grad_(True)
    loss = supcon_loss(feats, torch.arange(4))
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert torch.equal(feats.grad, torch.zeros_like(feats))


def test_two_samples_closed_form():
    # N=2 same class: each anchor's only contrast is its positive -> 0
    feats = F.normalize(torch.randn(2, 3, dtype=torch.float64), dim=1)
    assert abs(float(supcon_loss(feats, torch.tensor([1, 1])))) < 1e-12
    # 3 rows, anchors 0,1 share a class: l = log(1 + exp((s02 - s01) / t))
    f = F.normalize(torch.randn(3, 3, dtype=torch.float64), dim=1)
    t = 0.5
    s = f @ f.t()
    l0 = math.log(1 + math.exp(float(s[0, 2] - s[0, 1]) / t))
    l1 = math.log(1 + math.exp(float(s[1, 2] - s[0, 1]) / t))
    got = supcon_loss(f, torch.tensor([0, 0, 1]), temperature=t)
    assert abs(float(got) - (l0 + l1) / 2) < 1e-10


def test_fp16_and_module():
    feats, labels, qk, ql = _case(6)
    module = MODELS.build(
        dict(
            type='SupConLoss',
            temperature=0.1,
            base_temperature=0.07,
            loss_weight=2.0))
    half = module(feats.half(), labels, qk.half(), ql)
    full = module(feats.half().float(), labels, qk.half().float(), ql)
    assert half.dtype == torch.float32 and torch.isfinite(half)
    torch.testing.assert_close(half, full, rtol=1e-3, atol=1e-3)
    plain = supcon_loss(feats.float(), labels, qk.float(), ql, 0.1)
    torch.testing.assert_close(
        module(feats.float(), labels, qk.float(), ql),
        2.0 * plain * 0.1 / 0.07)


def test_bad_input():
    f = torch.randn(3, 4)
    with pytest.raises(ValueError, match='labels'):
        supcon_loss(f, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='>= 0'):
        supcon_loss(f, torch.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match='together'):
        supcon_loss(f, torch.tensor([0, 1, 1]), queue_keys=torch.randn(2, 4))
    with pytest.raises(ValueError, match='queue_keys'):
        supcon_loss(f, torch.tensor([0, 1, 1]), torch.randn(2, 5),
                    torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='temperature'):
        SupConLoss(temperature=0)


# --- 2 processes == 1 process on the same global batch -------------------
SPLIT = (5, 3)


def _global_batch():
    g = torch.Generator().manual_seed(11)
    x = torch.randn(sum(SPLIT), 2, 6, generator=g, dtype=torch.float64)
    w = torch.randn(6, 4, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (sum(SPLIT), ), generator=g)
    labels[0] = 7  # only 2 views of one image are positives of each other
    qk = F.normalize(torch.randn(5, 4, generator=g, dtype=torch.float64), 1)
    ql = torch.tensor([0, -1, 2, 7, -1])
    return x, w, labels, qk, ql


def _forward(x, w, labels, qk, ql):
    feats = F.normalize(x @ w, dim=-1)  # (n, V, d), shared "network" w
    return supcon_loss(feats, labels, qk, ql, temperature=0.2)


def _dist_supcon(rank, world_size):
    x, w, labels, qk, ql = _global_batch()
    start = sum(SPLIT[:rank])
    sl = slice(start, start + SPLIT[rank])
    xl = x[sl].clone().requires_grad_(True)
    w = w.clone().requires_grad_(True)
    loss = _forward(xl, w, labels[sl], qk, ql)
    loss.backward()
    torch.distributed.all_reduce(w.grad)  # what DDP does, then / W
    return dict(loss=loss.detach(), w_grad=w.grad / world_size, x_grad=xl.grad)


def test_two_process_equals_single_process():
    x, w, labels, qk, ql = _global_batch()
    x = x.clone().requires_grad_(True)
    w = w.clone().requires_grad_(True)
    single = _forward(x, w, labels, qk, ql)
    single.backward()
    res = run_distributed(_dist_supcon, 2)
    mean = (res[0]['loss'] + res[1]['loss']) / 2
    torch.testing.assert_close(mean, single.detach(), rtol=0, atol=1e-10)
    for r in res:
        torch.testing.assert_close(r['w_grad'], w.grad, rtol=0, atol=1e-10)
    # per-rank input gradients (before DDP's 1/W) are W x the global ones
    x_grad = torch.cat([r['x_grad'] for r in res]) / 2
    torch.testing.assert_close(x_grad, x.grad, rtol=0, atol=1e-10)
