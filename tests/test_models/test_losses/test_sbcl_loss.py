# Copyright (c) ltcls contributors. All rights reserved.
"""SBCL loss (Eq. 4, spec_sbcl §2.3/§2.6) against per-anchor references
written from the set definitions, degenerate cases, the queue variant and
the 2-process == 1-process check."""
import math

import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses import (SBCLLoss, SBCLQueueLoss, sbcl_loss,
                                 sbcl_queue_loss, supcon_loss)
from ltcls.registry import MODELS
from ltcls.testing import run_distributed


def ref_sbcl(z, y, s, tau2_cls, tau1, w1, beta, partner_in=True, empty='skip'):
    """Eq. 4 by definition on (N, V, d) views; every view is an anchor.

    M~_i: other views with the anchor's subclass (partner included);
    V~_i: all other views; T2 positives: same class, other subclass (plus
    the partner if ``partner_in``); T2 softmax: views outside the anchor's
    subclass (plus the partner if ``partner_in``)."""
    N, V, _ = z.shape
    views = [(i, v) for v in range(V) for i in range(N)]
    t1s, t2s = [], []
    for a, (i, v) in enumerate(views):
        za = z[i, v]
        others = [(j, u) for b, (j, u) in enumerate(views) if b != a]

        def sim(j, u):
            return torch.dot(za, z[j, u])

        same_sub = [(j, u) for j, u in others
                    if int(s[j]) == int(s[i]) and int(y[j]) == int(y[i])]
        den1 = torch.log(sum(torch.exp(sim(j, u) / tau1) for j, u in others))
        if same_sub:
            t1s.append(-sum(sim(j, u) / tau1 - den1
                            for j, u in same_sub) / len(same_sub))
        partner = [(j, u) for j, u in others if j == i] if partner_in else []
        outside = [(j, u) for j, u in others if (j, u) not in same_sub]
        den_set = outside + partner
        pos_set = [(j, u) for j, u in outside if int(y[j]) == int(y[i])]
        pos_set += partner
        tau2 = float(tau2_cls[int(y[i])])
        if pos_set:
            den2 = torch.log(
                sum(torch.exp(sim(j, u) / tau2) for j, u in den_set))
            t2s.append(-sum(sim(j, u) / tau2 - den2
                            for j, u in pos_set) / len(pos_set))
        elif empty == 'zero':
            t2s.append(za.sum() * 0)
    loss1 = sum(t1s) / len(t1s) if t1s else z.sum() * 0
    loss2 = sum(t2s) / len(t2s) if t2s else z.sum() * 0
    return w1 * loss1 + beta * loss2


def make_batch(seed=0, n=10, v=2, d=5, num_classes=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z = F.normalize(torch.randn(n, v, d, generator=g, dtype=dtype), dim=-1)
    y = torch.randint(0, num_classes, (n, ), generator=g)
    # 2 subclasses for class 0, 3 for class 1, 1 for class 2 (tail class)
    offsets, m = [0, 2, 5], [2, 3, 1]
    s = torch.tensor([
        offsets[c] + int(torch.randint(0, m[c], (1, ), generator=g))
        for c in y.tolist()
    ])
    tau2 = torch.rand(num_classes, generator=g, dtype=dtype) * 0.3 + 0.1
    return z, y, s, tau2


@pytest.mark.parametrize('partner_in', [True, False])
@pytest.mark.parametrize('empty', ['skip', 'zero'])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_sbcl_loss_matches_reference(partner_in, empty, seed):
    z, y, s, tau2 = make_batch(seed)
    y[0], s[0] = 2, 5  # at least one tail-class anchor
    z_ref = z.clone().requires_grad_(True)
    z_vec = z.clone().requires_grad_(True)
    ref = ref_sbcl(z_ref, y, s, tau2, 0.1, 0.1 / 0.07, 0.25, partner_in, empty)
    out = sbcl_loss(
        z_vec,
        y,
        s,
        tau2,
        tau1=0.1,
        base_temperature=0.07,
        beta=0.25,
        partner_in_class_term=partner_in,
        empty_class_term=empty,
        gather=False)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    ref.backward()
    out.backward()
    torch.testing.assert_close(z_vec.grad, z_ref.grad, rtol=0, atol=1e-6)


def test_sbcl_loss_single_sample_subclasses_and_single_cluster_classes():
    """Singleton subclasses (one image, two views) next to a class that is
    a single subclass, a class with one image, and V = 3 views."""
    g = torch.Generator().manual_seed(4)
    z = F.normalize(
        torch.randn(6, 3, 4, generator=g, dtype=torch.float64), dim=-1)
    y = torch.tensor([0, 0, 0, 1, 1, 2])
    s = torch.tensor([0, 1, 2, 3, 3, 4])  # class 0: every image alone
    tau2 = torch.tensor([0.3, 0.2, 0.15], dtype=torch.float64)
    for partner_in in (True, False):
        ref = ref_sbcl(z, y, s, tau2, 0.1, 1.0, 0.5, partner_in)
        out = sbcl_loss(
            z,
            y,
            s,
            tau2,
            tau1=0.1,
            base_temperature=None,
            beta=0.5,
            partner_in_class_term=partner_in,
            gather=False)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)


def test_degenerate_every_sample_its_own_subclass():
    """T1 becomes NT-Xent (SupCon over instance ids) and T2 becomes SupCon
    over class labels at tau2 (spec_sbcl §10.8)."""
    z, y, _, _ = make_batch(5, n=8)
    s = torch.arange(8)
    tau2 = torch.full((3, ), 0.3, dtype=torch.float64)
    out = sbcl_loss(
        z, y, s, tau2, tau1=0.1, base_temperature=None, beta=0.7, gather=False)
    t1 = supcon_loss(z, torch.arange(8), temperature=0.1, gather=False)
    t2 = supcon_loss(z, y, temperature=0.3, gather=False)
    torch.testing.assert_close(out, t1 + 0.7 * t2, rtol=0, atol=1e-10)


def test_degenerate_subclass_equals_class():
    """T1 becomes SupCon over classes; T2 keeps only the partner, against
    the other classes' views (closed form)."""
    z, y, _, _ = make_batch(6, n=8)
    tau2 = torch.tensor([0.2, 0.3, 0.4], dtype=torch.float64)
    out1 = sbcl_loss(
        z, y, y, tau2, tau1=0.1, base_temperature=None, beta=0.0, gather=False)
    torch.testing.assert_close(
        out1,
        supcon_loss(z, y, temperature=0.1, gather=False),
        rtol=0,
        atol=1e-10)
    out2 = sbcl_loss(
        z, y, y, tau2, tau1=0.1, base_temperature=None, beta=1.0,
        gather=False) - out1
    flat = z.transpose(0, 1).reshape(16, -1)
    yy, inst = y.repeat(2), torch.arange(8).repeat(2)
    terms = []
    for a in range(16):
        p = (a + 8) % 16
        t = float(tau2[yy[a]])
        den = [b for b in range(16) if yy[b] != yy[a]] + [p]
        logits = flat[den] @ flat[a] / t
        terms.append(-(flat[a] @ flat[p] / t - torch.logsumexp(logits, 0)))
        assert inst[p] == inst[a]
    torch.testing.assert_close(
        out2, torch.stack(terms).mean(), rtol=0, atol=1e-10)
    # paper-literal T2 is empty for every anchor: the class term vanishes
    lit = sbcl_loss(
        z,
        y,
        y,
        tau2,
        tau1=0.1,
        base_temperature=None,
        beta=1.0,
        partner_in_class_term=False,
        gather=False)
    torch.testing.assert_close(lit, out1, rtol=0, atol=1e-10)


def test_default_tau2_and_module():
    z, y, s, _ = make_batch(7)
    loss = MODELS.build(
        dict(
            type='SBCLLoss',
            tau1=0.1,
            base_temperature=0.07,
            beta=0.25,
            default_tau2=0.25,
            gather=False,
            loss_weight=2.0))
    ref = ref_sbcl(z, y, s, torch.full((3, ), 0.25), 0.1, 0.1 / 0.07, 0.25)
    torch.testing.assert_close(loss(z, y, s), 2 * ref, rtol=0, atol=1e-6)
    # without default_tau2 and class_tau2, tau2 = tau1
    ref = ref_sbcl(z, y, s, torch.full((3, ), 0.1), 0.1, 1.0, 0.25)
    out = sbcl_loss(
        z, y, s, None, tau1=0.1, base_temperature=None, gather=False)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)


def test_single_view_anchor_without_positive_no_nan():
    z = F.normalize(torch.randn(4, 3, dtype=torch.float64), dim=-1)
    y = torch.tensor([0, 0, 1, 1])
    s = torch.tensor([0, 1, 2, 2])  # anchors 0, 1 have no T1 positive
    z.requires_grad_(True)
    out = sbcl_loss(z, y, s, tau1=0.1, base_temperature=None, gather=False)
    ref = ref_sbcl(z[:, None], y, s, torch.full((2, ), 0.1), 0.1, 1.0, 0.25)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    out.backward()
    assert torch.isfinite(z.grad).all()
    # nobody has a positive anywhere: 0, graph kept, no NaN
    lone = sbcl_loss(
        z,
        torch.arange(4),
        torch.arange(4),
        gather=False,
        partner_in_class_term=False)
    assert lone.item() == 0 and lone.requires_grad


def test_fp16_input():
    z, y, s, tau2 = make_batch(8, dtype=torch.float32)
    ref = sbcl_loss(z, y, s, tau2, gather=False)
    half = sbcl_loss(z.half(), y, s, tau2.half(), gather=False)
    assert half.dtype == torch.float32 and torch.isfinite(half)
    assert abs(half.item() - ref.item()) < 2e-2


def test_sbcl_loss_errors():
    z, y, s, tau2 = make_batch(9)
    with pytest.raises(ValueError, match='sub_labels must be >= 0'):
        sbcl_loss(z, y, torch.full_like(s, -1), gather=False)
    with pytest.raises(ValueError, match='class_tau2 has 2 entries'):
        sbcl_loss(z, y, s, tau2[:2], gather=False)
    with pytest.raises(ValueError, match=r'sub_labels must be \(10,\)'):
        sbcl_loss(z, y, s[:3], gather=False)
    with pytest.raises(ValueError, match='tau1'):
        SBCLLoss(tau1=0)
    with pytest.raises(ValueError, match='empty_class_term'):
        SBCLLoss(empty_class_term='drop')
    with pytest.raises(ValueError, match='beta'):
        SBCLLoss(beta=-1)


# --- queue variant -------------------------------------------------------
def ref_sbcl_queue(q,
                   k,
                   y,
                   s,
                   qk,
                   qy,
                   qs,
                   tau2_cls,
                   tau1,
                   beta,
                   w1=1.0,
                   partner_in=True,
                   empty='skip'):
    t1s, t2s = [], []
    for i in range(len(q)):
        cols = [(k[i], 'key', None, None)] + [(qk[j], 'queue', int(
            qy[j]), int(qs[j])) for j in range(len(qk)) if int(qy[j]) >= 0]

        def is_same_sub(c):
            return c[1] == 'key' or (c[2] == int(y[i]) and c[3] == int(s[i]))

        den1 = torch.log(
            sum(torch.exp(torch.dot(q[i], c[0]) / tau1) for c in cols))
        pos1 = [c for c in cols if is_same_sub(c)]
        t1s.append(-sum(torch.dot(q[i], c[0]) / tau1 - den1
                        for c in pos1) / len(pos1))
        tau2 = float(tau2_cls[int(y[i])])
        den_set = [
            c for c in cols
            if not is_same_sub(c) or (c[1] == 'key' and partner_in)
        ]
        pos_set = [c for c in den_set if c[1] == 'key' or c[2] == int(y[i])]
        if pos_set:
            den2 = torch.log(
                sum(torch.exp(torch.dot(q[i], c[0]) / tau2) for c in den_set))
            t2s.append(
                -sum(torch.dot(q[i], c[0]) / tau2 - den2
                     for c in pos_set) / len(pos_set))
        elif empty == 'zero':
            t2s.append(q[i].sum() * 0)
    loss2 = sum(t2s) / len(t2s) if t2s else q.sum() * 0
    return w1 * sum(t1s) / len(t1s) + beta * loss2


def make_queue_batch(seed=0, b=6, kq=12, d=5):
    g = torch.Generator().manual_seed(seed)

    def unit(*shape):
        return F.normalize(
            torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)

    q, k, qk = unit(b, d), unit(b, d), unit(kq, d)
    y = torch.randint(0, 3, (b, ), generator=g)
    s = y * 2 + torch.randint(0, 2, (b, ), generator=g)
    qy = torch.randint(0, 3, (kq, ), generator=g)
    qs = qy * 2 + torch.randint(0, 2, (kq, ), generator=g)
    qy[:2] = -1  # empty slots
    qs[:2] = -1
    qs[2] = -1  # enqueued before the first clustering (stale, class known)
    tau2 = torch.tensor([0.12, 0.2, 0.3], dtype=torch.float64)
    return q, k, y, s, qk, qy, qs, tau2


@pytest.mark.parametrize('partner_in', [True, False])
@pytest.mark.parametrize('seed', [0, 1])
def test_sbcl_queue_loss_matches_reference(partner_in, seed):
    q, k, y, s, qk, qy, qs, tau2 = make_queue_batch(seed)
    q_ref = q.clone().requires_grad_(True)
    q_vec = q.clone().requires_grad_(True)
    ref = ref_sbcl_queue(
        q_ref, k, y, s, qk, qy, qs, tau2, 0.07, 0.2, partner_in=partner_in)
    out = sbcl_queue_loss(
        q_vec,
        k,
        y,
        s,
        qk,
        qy,
        qs,
        tau2,
        tau1=0.07,
        beta=0.2,
        partner_in_class_term=partner_in)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    ref.backward()
    out.backward()
    torch.testing.assert_close(q_vec.grad, q_ref.grad, rtol=0, atol=1e-6)


def test_sbcl_queue_loss_fixed_tau2_and_empty_queue():
    q, k, y, s, qk, qy, qs, _ = make_queue_batch(3)
    loss = SBCLQueueLoss(tau1=0.07, default_tau2=0.12, beta=0.2)
    ref = ref_sbcl_queue(q, k, y, s, qk, qy, qs, torch.full((3, ), 0.12), 0.07,
                         0.2)
    torch.testing.assert_close(
        loss(q, k, y, s, qk, qy, qs), ref, rtol=0, atol=1e-6)
    # an all-empty queue: T1 = T2 = 0 (only the key), no NaN
    empty = torch.full_like(qy, -1)
    out = loss(q, k, y, s, qk, empty, empty)
    assert torch.isfinite(out) and abs(out.item()) < 1e-12
    with pytest.raises(ValueError, match='queue_sub_labels must be'):
        loss(q, k, y, s, qk, qy, qs[:3])


# --- 2 processes == 1 process on the same global batch -------------------
SPLIT = (5, 3)


def _global_batch():
    g = torch.Generator().manual_seed(11)
    x = torch.randn(sum(SPLIT), 2, 6, generator=g, dtype=torch.float64)
    w = torch.randn(6, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 2, 1, 0, 1, 0])
    s = torch.tensor([0, 2, 1, 4, 3, 0, 2, 1])
    tau2 = torch.tensor([0.2, 0.3, 0.25], dtype=torch.float64)
    return x, w, y, s, tau2


def _forward(x, w, y, s, tau2):
    feats = F.normalize(x @ w, dim=-1)
    return sbcl_loss(
        feats,
        y,
        s,
        tau2,
        tau1=0.1,
        base_temperature=0.07,
        beta=0.25,
        partner_in_class_term=False)


def _dist_sbcl(rank, world_size):
    x, w, y, s, tau2 = _global_batch()
    start = sum(SPLIT[:rank])
    sl = slice(start, start + SPLIT[rank])
    xl = x[sl].clone().requires_grad_(True)
    w = w.clone().requires_grad_(True)
    loss = _forward(xl, w, y[sl], s[sl], tau2)
    loss.backward()
    torch.distributed.all_reduce(w.grad)  # what DDP does, then / W
    return dict(loss=loss.detach(), w_grad=w.grad / world_size, x_grad=xl.grad)


def test_two_process_equals_single_process():
    x, w, y, s, tau2 = _global_batch()
    x = x.clone().requires_grad_(True)
    w = w.clone().requires_grad_(True)
    single = _forward(x, w, y, s, tau2)
    single.backward()
    assert math.isfinite(single.item())
    res = run_distributed(_dist_sbcl, 2)
    mean = (res[0]['loss'] + res[1]['loss']) / 2
    torch.testing.assert_close(mean, single.detach(), rtol=0, atol=1e-10)
    for r in res:
        torch.testing.assert_close(r['w_grad'], w.grad, rtol=0, atol=1e-10)
    x_grad = torch.cat([r['x_grad'] for r in res]) / 2
    torch.testing.assert_close(x_grad, x.grad, rtol=0, atol=1e-10)


@pytest.mark.parametrize('partner_in', [True, False])
@pytest.mark.parametrize('empty', ['skip', 'zero'])
@pytest.mark.parametrize('queue', ['empty', 'one_class', 'stale'])
def test_sbcl_queue_gradient_edge_cases(partner_in, empty, queue):
    """Gradients against the per-anchor reference where the queue is all
    empty, holds a single class (anchors of the other classes have no T2
    positive), or only entries enqueued before the first clustering."""
    q, k, y, s, qk, qy, qs, tau2 = make_queue_batch(4)
    if queue == 'empty':
        qy, qs = torch.full_like(qy, -1), torch.full_like(qs, -1)
    elif queue == 'one_class':
        qy = torch.where(qy >= 0, torch.zeros_like(qy), qy)
        qs = torch.where(qy >= 0, qs.remainder(2), qs)
    else:
        qs = torch.full_like(qs, -1)
    q_ref = q.clone().requires_grad_(True)
    q_vec = q.clone().requires_grad_(True)
    ref = ref_sbcl_queue(
        q_ref, k, y, s, qk, qy, qs, tau2, 0.07, 0.2, partner_in=partner_in,
        empty=empty)
    out = sbcl_queue_loss(
        q_vec, k, y, s, qk, qy, qs, tau2, tau1=0.07, beta=0.2,
        partner_in_class_term=partner_in, empty_class_term=empty)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    out.backward()
    if ref.requires_grad:
        ref.backward()
        torch.testing.assert_close(q_vec.grad, q_ref.grad, rtol=0, atol=1e-6)
    assert torch.isfinite(q_vec.grad).all()
