# Copyright (c) ltcls contributors. All rights reserved.
"""PaCoLoss against a plain per-anchor loop of spec_paco.md §2.5."""
import math

import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses import PaCoLoss, paco_loss, paco_loss_per_anchor
from ltcls.registry import MODELS
from ltcls.testing import run_distributed


def reference_paco(center_logits,
                   anchors,
                   labels,
                   keys=None,
                   key_labels=None,
                   queue=None,
                   queue_labels=None,
                   alpha=0.05,
                   beta=1.0,
                   gamma=1.0,
                   t=0.2,
                   tc=1.0,
                   log_prior=None,
                   smoothing=0.0,
                   base_t=None,
                   group_size=None,
                   num_samples=None):
    """Scalar loop over anchors and columns (torch scalars so autograd gives
    an independent gradient). Bank = [anchors; keys] (self excluded,
    optional groups) + queue (label -1 skipped). Returns the mean loss."""
    a, n_cls = center_logits.shape
    bank, bank_lab = [anchors[j] for j in range(a)], labels.tolist()
    if keys is not None:
        bank += [keys[j] for j in range(keys.shape[0])]
        bank_lab += key_labels.tolist()
    n = a if num_samples is None else num_samples
    total = 0.
    for i in range(a):
        y = int(labels[i])
        u = []
        for c in range(n_cls):
            lp = 0. if log_prior is None else float(log_prior[c])
            u.append((center_logits[i, c] + lp) / tc)
        den = sum(torch.exp(x) for x in u)
        pos = []
        for j, (z, lab) in enumerate(zip(bank, bank_lab)):
            if j == i:
                continue
            if group_size is not None and \
                    (j % n) // group_size != (i % n) // group_size:
                continue
            v = (anchors[i] * z).sum() / t
            den = den + gamma * torch.exp(v)
            if lab == y:
                pos.append(v)
        if queue is not None:
            for j in range(queue.shape[0]):
                lab = int(queue_labels[j])
                if lab < 0:
                    continue
                v = (anchors[i] * queue[j].detach()).sum() / t
                den = den + gamma * torch.exp(v)
                if lab == y:
                    pos.append(v)
        w_c = [(1 - smoothing) if c == y else smoothing / (n_cls - 1)
               for c in range(n_cls)]
        num, w_sum = 0., 0.
        for c in range(n_cls):
            if w_c[c] > 0:
                num = num + beta * w_c[c] * (u[c] - torch.log(den))
                w_sum += beta * w_c[c]
        for v in pos:
            num = num + alpha * (v - torch.log(den))
            w_sum += alpha
        total = total - num / w_sum
    out = total / a
    if base_t is not None:
        out = out * t / base_t
    return out


def _inputs(a=6, n_cls=4, d=5, queue_len=10, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(a, n_cls, generator=g, dtype=dtype)
    q = F.normalize(torch.randn(a, d, generator=g, dtype=dtype), dim=1)
    k = F.normalize(torch.randn(a, d, generator=g, dtype=dtype), dim=1)
    labels = torch.randint(0, n_cls, (a, ), generator=g)
    queue = F.normalize(
        torch.randn(queue_len, d, generator=g, dtype=dtype), dim=1)
    queue_labels = torch.randint(0, n_cls, (queue_len, ), generator=g)
    return logits, q, k, labels, queue, queue_labels


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(alpha=0.5, beta=0.7, gamma=1.0, t=0.07, tc=1.0),
    dict(alpha=0.05, gamma=0.3, t=0.2, tc=0.2),
    dict(smoothing=0.1, base_t=0.07, gamma=2.0),
    dict(alpha=0.0),
])
@pytest.mark.parametrize('with_prior', [False, True])
def test_matches_reference_loss_and_grads(kwargs, with_prior):
    logits, q, k, labels, queue, qlab = _inputs()
    qlab[3] = -1  # unfilled slots
    qlab[7] = -1
    prior = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64).log() \
        if with_prior else None
    ref_args = dict(kwargs)
    kw = dict(
        alpha=ref_args.pop('alpha', 0.05),
        center_weight=ref_args.pop('beta', 1.0),
        denominator_weight=ref_args.pop('gamma', 1.0),
        temperature=ref_args.pop('t', 0.2),
        center_temperature=ref_args.pop('tc', 1.0),
        label_smoothing=ref_args.pop('smoothing', 0.0),
        base_temperature=ref_args.pop('base_t', None))
    l1, q1 = logits.clone().requires_grad_(), q.clone().requires_grad_()
    out = paco_loss(
        l1, q1, labels, k, labels, queue, qlab, log_prior=prior, **kw)
    out.backward()
    l2, q2 = logits.clone().requires_grad_(), q.clone().requires_grad_()
    ref = reference_paco(
        l2,
        q2,
        labels,
        k,
        labels,
        queue,
        qlab,
        alpha=kw['alpha'],
        beta=kw['center_weight'],
        gamma=kw['denominator_weight'],
        t=kw['temperature'],
        tc=kw['center_temperature'],
        log_prior=prior,
        smoothing=kw['label_smoothing'],
        base_t=kw['base_temperature'])
    ref.backward()
    assert out.dtype == torch.float64
    assert abs(out.item() - ref.item()) < 1e-6
    torch.testing.assert_close(l1.grad, l2.grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(q1.grad, q2.grad, atol=1e-6, rtol=0)


def test_gpaco_both_views_as_anchors_matches_reference():
    """GPaCo: anchors = [z1; z2] (2b rows, gradient through both), no
    separate keys."""
    logits, q, k, labels, queue, qlab = _inputs(a=4)
    anchors = torch.cat([q, k]).requires_grad_()
    lab2 = labels.repeat(2)
    cl = torch.cat([logits, logits.flip(0)]).requires_grad_()
    out = paco_loss(
        cl,
        anchors,
        lab2,
        None,
        None,
        queue,
        qlab,
        alpha=0.045,
        label_smoothing=0.2,
        num_samples=4)
    out.backward()
    a2, c2 = anchors.detach().clone().requires_grad_(), \
        cl.detach().clone().requires_grad_()
    ref = reference_paco(
        c2,
        a2,
        lab2,
        queue=queue,
        queue_labels=qlab,
        alpha=0.045,
        smoothing=0.2)
    ref.backward()
    assert abs(out.item() - ref.item()) < 1e-6
    torch.testing.assert_close(anchors.grad, a2.grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(cl.grad, c2.grad, atol=1e-6, rtol=0)


def test_group_size_emulates_per_gpu_banks():
    logits, q, k, labels, queue, qlab = _inputs(a=6)
    out = paco_loss(logits, q, labels, k, labels, queue, qlab, group_size=3)
    ref = reference_paco(
        logits, q, labels, k, labels, queue, qlab, group_size=3, num_samples=6)
    assert abs(out.item() - ref.item()) < 1e-6
    full = paco_loss(logits, q, labels, k, labels, queue, qlab)
    assert abs(out.item() - full.item()) > 1e-6  # groups do change it
    # group_size == batch size is the ungrouped loss
    same = paco_loss(logits, q, labels, k, labels, queue, qlab, group_size=6)
    assert abs(same.item() - full.item()) < 1e-12
    with pytest.raises(ValueError, match='group_size'):
        paco_loss(logits, q, labels, k, labels, queue, qlab, group_size=4)


def test_empty_slots_and_absent_class():
    logits, q, k, labels, queue, qlab = _inputs()
    labels[:] = torch.tensor([0, 0, 1, 2, 3, 3])
    qlab = torch.tensor([1, 1, -1, 2, -1, 2, 1, -1, 2, 1])  # no 0 / 3
    out = paco_loss(logits, q, labels, k, labels, queue, qlab)
    ref = reference_paco(logits, q, labels, k, labels, queue, qlab)
    assert torch.isfinite(out) and abs(out.item() - ref.item()) < 1e-6
    # keys in empty slots do not matter
    queue2 = queue.clone()
    queue2[qlab < 0] = F.normalize(torch.randn(3, 5, dtype=queue.dtype), 1)
    out2 = paco_loss(logits, q, labels, k, labels, queue2, qlab)
    assert abs(out.item() - out2.item()) < 1e-12
    # an all-empty queue equals no queue at all
    empty = torch.full_like(qlab, -1)
    torch.testing.assert_close(
        paco_loss(logits, q, labels, k, labels, queue, empty),
        paco_loss(logits, q, labels, k, labels),
        atol=1e-12,
        rtol=0)


def test_single_sample_class_has_only_center_and_own_key():
    """A one-sample class in the batch with no queue entry: its positives
    are its center and its own key view (alpha weight)."""
    logits, q, k, labels, _, _ = _inputs(a=3, n_cls=3)
    labels = torch.tensor([0, 1, 2])
    loss, has_pos = paco_loss_per_anchor(
        logits, q, labels, k, labels, alpha=0.5)
    assert has_pos.all()
    for i in range(3):
        u = logits[i]
        v = torch.cat([q[i] @ q.t(), q[i] @ k.t()]) / 0.2
        v = torch.cat([v[:i], v[i + 1:]])
        lse = torch.logsumexp(torch.cat([u, v]), 0)
        expected = -((u[i] - lse) + 0.5 * (q[i] @ k[i] / 0.2 - lse)) / 1.5
        assert abs(loss[i].item() - expected.item()) < 1e-10


def test_remark2_extra_term_minimiser():
    """Spec §2.4 oracle: L_extra(P) = -log P - aK log(1 - P) is minimised at
    P = 1 / (1 + aK) (full-ImageNet numbers: aK = 0.41, P = 0.71)."""
    a_k = 0.05 * 8192 * 0.001
    p = torch.linspace(0.01, 0.99, 9801, dtype=torch.float64)
    extra = -p.log() - a_k * (1 - p).log()
    assert abs(p[extra.argmin()].item() - 1 / (1 + a_k)) < 1e-4
    assert abs(1 / (1 + a_k) - 0.709) < 1e-3


def test_fp16_inputs_no_nan():
    logits, q, k, labels, queue, qlab = _inputs(dtype=torch.float32)
    ref = paco_loss(
        logits, q, labels, k, labels, queue, qlab, temperature=0.05)
    out = paco_loss(
        logits.half(),
        q.half(),
        labels,
        k.half(),
        labels,
        queue.half(),
        qlab,
        temperature=0.05)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    assert abs(out.item() - ref.item()) < 2e-2


def test_module_uses_class_counts_for_rebalance():
    logits, q, k, labels, queue, qlab = _inputs()
    counts = [50, 30, 15, 5]
    mod = MODELS.build(dict(type='PaCoLoss', alpha=0.05, temperature=0.2))
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        mod(logits, q, labels, k, labels, queue, qlab)
    mod.set_class_counts(counts)
    out = mod(logits, q, labels, k, labels, queue, qlab)
    prior = torch.tensor(counts, dtype=torch.float64)
    ref = reference_paco(
        logits,
        q,
        labels,
        k,
        labels,
        queue,
        qlab,
        log_prior=(prior / prior.sum()).log())
    assert abs(out.item() - ref.item()) < 1e-6
    plain = PaCoLoss(center_rebalance=False)(logits, q, labels, k, labels,
                                             queue, qlab)
    assert abs(plain.item() - reference_paco(logits, q, labels, k, labels,
                                             queue, qlab).item()) < 1e-6
    with pytest.raises(ValueError, match='classes'):
        mod(logits[:, :3], q, labels.clamp(max=2), k, labels, queue, qlab)


@pytest.mark.parametrize('bad', [
    dict(temperature=0),
    dict(alpha=-1),
    dict(denominator_weight=0),
    dict(label_smoothing=1.0),
    dict(alpha=0, center_weight=0),
    dict(gather_bank=True, group_size=2)
])
def test_bad_args(bad):
    with pytest.raises(ValueError):
        PaCoLoss(**bad)


def test_bad_inputs():
    logits, q, k, labels, queue, qlab = _inputs()
    with pytest.raises(ValueError, match='labels must be in'):
        paco_loss(logits, q, labels + 10, k, labels, queue, qlab)
    with pytest.raises(ValueError, match='center_logits'):
        paco_loss(logits[:2], q, labels, k, labels, queue, qlab)
    with pytest.raises(ValueError, match='together'):
        paco_loss(logits, q, labels, k, labels, queue, None)


# ---------------------------------------------------------------------------
# 2 processes == 1 process
# ---------------------------------------------------------------------------
def _dist_loss(rank, world_size):
    logits, q, k, labels, queue, qlab = _inputs(a=8, seed=3)
    n = 8 // world_size
    sl = slice(rank * n, (rank + 1) * n)
    out = {}
    for mode in ('gather', 'local'):
        cl = logits[sl].clone().requires_grad_()
        qq = q[sl].clone().requires_grad_()
        kw = dict(gather_bank=True) if mode == 'gather' else dict()
        loss = paco_loss(
            cl,
            qq,
            labels[sl],
            k[sl],
            labels[sl],
            queue,
            qlab,
            log_prior=torch.full((4, ), -math.log(4.0), dtype=torch.float64),
            **kw)
        loss.backward()
        out[mode] = dict(loss=loss.detach(), g_logits=cl.grad, g_q=qq.grad)
    return out


def test_two_processes_equal_one():
    """gather_bank=True: 2 ranks == 1 process on the global batch; the
    default local bank: 2 ranks == 1 process with group_size = 4."""
    results = run_distributed(_dist_loss, 2)
    logits, q, k, labels, queue, qlab = _inputs(a=8, seed=3)
    for mode in ('gather', 'local'):
        cl, qq = logits.clone().requires_grad_(), q.clone().requires_grad_()
        kw = dict() if mode == 'gather' else dict(group_size=4)
        loss = paco_loss(
            cl,
            qq,
            labels,
            k,
            labels,
            queue,
            qlab,
            log_prior=torch.full((4, ), -math.log(4.0), dtype=torch.float64),
            **kw)
        loss.backward()
        res = [r[mode] for r in results]
        assert abs(sum(r['loss']
                       for r in res).item() / 2 - loss.item()) < 1e-10
        # rank-local losses are W x their share: divide gradients by W
        g_l = torch.cat([r['g_logits'] for r in res]) / 2
        g_q = torch.cat([r['g_q'] for r in res]) / 2
        torch.testing.assert_close(g_l, cl.grad, atol=1e-10, rtol=0)
        torch.testing.assert_close(g_q, qq.grad, atol=1e-10, rtol=0)
