# Copyright (c) ltcls contributors. All rights reserved.
"""ResComLoss against plain loops of spec_rescom.md §2.2-2.7."""
import math

import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses import (ResComLoss, rescom_contrastive_loss,
                                 rescom_contrastive_per_anchor)
from ltcls.registry import MODELS
from ltcls.testing import run_distributed


def reference_con(emb,
                  labels,
                  queue,
                  qlab,
                  t=0.2,
                  qp=1,
                  qn=4,
                  anchor_views='both',
                  in_batch=True,
                  weights=None,
                  group_size=None):
    """Per-anchor loop: mining by sorting (similarity, slot) tuples (ties ->
    lower slot first), then -sum_pos log softmax / #pos, weighted mean over
    the anchors that have a positive."""
    n = labels.numel()
    rows = emb.shape[0]
    row_lab = labels.repeat(rows // n).tolist()
    anchors = range(rows) if anchor_views == 'both' else range(n)
    total, count = 0., 0
    for a in anchors:
        y = row_lab[a]
        sims = [(emb[a] * queue[j].detach()).sum()
                for j in range(queue.shape[0])]
        pos_c = sorted([(float(sims[j].detach()), j) for j in range(len(sims))
                        if int(qlab[j]) == y])[:qp]
        neg_c = sorted([(-float(sims[j].detach()), j)
                        for j in range(len(sims))
                        if int(qlab[j]) >= 0 and int(qlab[j]) != y])[:qn]
        cols = []  # (logit, is_positive)
        if in_batch:
            for j in range(rows):
                if j == a:
                    continue
                if group_size is not None and \
                        (j % n) // group_size != (a % n) // group_size:
                    continue
                cols.append(((emb[a] * emb[j]).sum() / t, row_lab[j] == y))
        cols += [(sims[j] / t, True) for _, j in pos_c]
        cols += [(sims[j] / t, False) for _, j in neg_c]
        npos = sum(1 for _, p in cols if p)
        if npos == 0:
            continue
        den = sum(torch.exp(x) for x, _ in cols)
        la = -sum(torch.log(torch.exp(x) / den) for x, p in cols if p) / npos
        total = total + (1.0 if weights is None else float(weights[y])) * la
        count += 1
    return total / count if count else None


def _inputs(n=5, views=2, k=4, q=3, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    emb = F.normalize(
        torch.randn(views * n, d, generator=g, dtype=torch.float64), dim=1)
    labels = torch.randint(0, k, (n, ), generator=g)
    queue = F.normalize(
        torch.randn(k * q, d, generator=g, dtype=torch.float64), dim=1)
    qlab = torch.arange(k).repeat_interleave(q)
    return emb, labels, queue, qlab


@pytest.mark.parametrize('variant', [
    dict(anchor_views='both', in_batch=True),
    dict(anchor_views='first', in_batch=False),
    dict(anchor_views='first', in_batch=True),
    dict(anchor_views='both', in_batch=False),
])
@pytest.mark.parametrize('qp,qn', [(1, 4), (2, 9), (3, 12)])
def test_contrastive_matches_reference(variant, qp, qn):
    emb, labels, queue, qlab = _inputs()
    weights = torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    n = labels.numel()
    e1 = emb.clone().requires_grad_()
    if variant['anchor_views'] == 'both':
        kw = dict(anchors=e1, labels=labels.repeat(2))
    else:
        kw = dict(
            anchors=e1[:n],
            labels=labels,
            in_batch_keys=e1[n:],
            in_batch_key_labels=labels)
    out = rescom_contrastive_loss(
        queue_keys=queue,
        queue_labels=qlab,
        class_weight=weights,
        temperature=0.2,
        num_pos=qp,
        num_neg=qn,
        in_batch=variant['in_batch'],
        num_samples=n,
        **kw)
    out.backward()
    e2 = emb.clone().requires_grad_()
    ref = reference_con(e2, labels, queue, qlab, 0.2, qp, qn,
                        variant['anchor_views'], variant['in_batch'], weights)
    ref.backward()
    assert abs(out.item() - ref.item()) < 1e-6
    torch.testing.assert_close(e1.grad, e2.grad, atol=1e-6, rtol=0)


def test_mining_ties_lower_slot_wins():
    """Anchor e1 against keys with exactly equal similarity but different
    directions: the gradient depends on which tied key is chosen."""
    n, k, q = 2, 2, 3
    emb = torch.tensor(
        [[1., 0., 0.], [0., 1., 0.], [1., 0., 0.], [0., 0., 1.]],
        dtype=torch.float64)
    labels = torch.tensor([0, 1])
    queue = torch.tensor(
        [
            [0.6, 0.8, 0.0],
            [0.6, 0.0, 0.8],
            [0.6, 0.0, -0.8],  # class 0: tie
            [0.6, -0.8, 0.0],
            [0.6, 0.0, 0.8],
            [0.0, 1.0, 0.0],  # class 1
        ],
        dtype=torch.float64)
    qlab = torch.arange(k).repeat_interleave(q)
    for qp, qn in ((1, 1), (2, 2), (1, 3)):
        e1 = emb.clone().requires_grad_()
        out = rescom_contrastive_loss(
            e1,
            labels.repeat(2),
            queue,
            qlab,
            temperature=0.5,
            num_pos=qp,
            num_neg=qn,
            num_samples=n)
        out.backward()
        e2 = emb.clone().requires_grad_()
        ref = reference_con(e2, labels, queue, qlab, 0.5, qp, qn)
        ref.backward()
        assert abs(out.item() - ref.item()) < 1e-9
        torch.testing.assert_close(e1.grad, e2.grad, atol=1e-9, rtol=0)


def test_empty_slots_absent_class_and_few_candidates():
    emb, labels, queue, qlab = _inputs(n=6, k=4, q=3)
    labels = torch.tensor([0, 1, 1, 2, 3, 3])
    qlab = qlab.clone()
    qlab[qlab == 3] = -1  # class 3 never enqueued (absent from the queue)
    qlab[4] = -1  # one empty slot of class 1
    # paper variant: class-3 anchors have no positive -> excluded, no NaN
    loss, has_pos = rescom_contrastive_per_anchor(
        emb[:6], labels, queue, qlab, num_pos=3, num_neg=20, in_batch=False)
    assert has_pos.tolist() == [True, True, True, True, False, False]
    assert torch.isfinite(loss).all() and (loss[~has_pos] == 0).all()
    for variant in (dict(anchor_views='first', in_batch=False),
                    dict(anchor_views='both', in_batch=True)):
        e1 = emb.clone().requires_grad_()
        if variant['anchor_views'] == 'both':
            out = rescom_contrastive_loss(
                e1,
                labels.repeat(2),
                queue,
                qlab,
                num_pos=3,
                num_neg=20,
                num_samples=6)
        else:
            out = rescom_contrastive_loss(
                e1[:6],
                labels,
                queue,
                qlab,
                num_pos=3,
                num_neg=20,
                in_batch=False)
        out.backward()
        e2 = emb.clone().requires_grad_()
        ref = reference_con(e2, labels, queue, qlab, 0.2, 3, 20, **variant)
        ref.backward()
        assert abs(out.item() - ref.item()) < 1e-6
        torch.testing.assert_close(e1.grad, e2.grad, atol=1e-6, rtol=0)
    # keys of empty slots never matter
    queue2 = queue.clone()
    queue2[qlab < 0] = -queue2[qlab < 0]
    a = rescom_contrastive_loss(
        emb,
        labels.repeat(2),
        queue,
        qlab,
        num_pos=3,
        num_neg=20,
        num_samples=6)
    b = rescom_contrastive_loss(
        emb,
        labels.repeat(2),
        queue2,
        qlab,
        num_pos=3,
        num_neg=20,
        num_samples=6)
    assert abs(a.item() - b.item()) < 1e-12


def test_no_positive_anywhere_gives_zero_with_graph():
    emb, labels, queue, _ = _inputs(n=2, k=4)
    labels = torch.tensor([0, 1])
    qlab = torch.full((12, ), -1)
    e = emb[:2].clone().requires_grad_()
    out = rescom_contrastive_loss(
        e, labels, queue, qlab, num_pos=1, num_neg=4, in_batch=False)
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(e.grad, torch.zeros_like(e))


def test_group_size_emulates_local_in_batch():
    emb, labels, queue, qlab = _inputs(n=6)
    out = rescom_contrastive_loss(
        emb,
        labels.repeat(2),
        queue,
        qlab,
        num_pos=2,
        num_neg=5,
        group_size=3,
        num_samples=6)
    ref = reference_con(emb, labels, queue, qlab, 0.2, 2, 5, group_size=3)
    assert abs(out.item() - ref.item()) < 1e-6


def test_fp16_inputs_no_nan():
    emb, labels, queue, qlab = _inputs()
    ref = rescom_contrastive_loss(
        emb.float(),
        labels.repeat(2),
        queue.float(),
        qlab,
        num_pos=1,
        num_neg=6,
        num_samples=5,
        temperature=0.05)
    out = rescom_contrastive_loss(
        emb.half(),
        labels.repeat(2),
        queue.half(),
        qlab,
        num_pos=1,
        num_neg=6,
        num_samples=5,
        temperature=0.05)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    assert abs(out.item() - ref.item()) < 5e-2


def _siam_bs_reference(scores, labels, counts):
    n = labels.numel()
    views = scores.shape[0] // n
    total = 0.
    for v in range(views):
        for i in range(n):
            s = scores[v * n + i]
            y = int(labels[i])
            den = sum(counts[c] * math.exp(float(s[c]))
                      for c in range(len(counts)))
            total += -math.log(counts[y] * math.exp(float(s[y])) / den)
    return total / (views * n)


@pytest.mark.parametrize('variant', ['code', 'paper'])
def test_module_total_loss(variant):
    emb, labels, queue, qlab = _inputs()
    counts = [40, 12, 5, 2]
    scores = torch.randn(10, 4, dtype=torch.float64)
    beta = 0.9
    mod = MODELS.build(
        dict(
            type='ResComLoss',
            variant=variant,
            con_weight=0.5,
            num_pos=1,
            num_neg=4,
            effective_num_beta=beta))
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        mod(scores, emb, labels, queue, qlab)
    mod.set_class_counts(counts)  # also reaches the BalancedSoftmaxLoss
    out = mod(scores, emb, labels, queue, qlab)
    assert set(out) == {'loss_cls', 'loss_con'}
    e = torch.tensor([(1 - beta**c) / (1 - beta) for c in counts])
    w = e.mean() / e if variant == 'code' else 1 / e
    ref_con = reference_con(
        emb,
        labels,
        queue,
        qlab,
        0.2,
        1,
        4,
        anchor_views='both' if variant == 'code' else 'first',
        in_batch=variant == 'code',
        weights=w)
    assert abs(out['loss_con'].item() - 0.5 * ref_con.item()) < 1e-6
    ref_cls = _siam_bs_reference(scores, labels, counts)
    assert abs(out['loss_cls'].item() - ref_cls) < 1e-6
    single = ResComLoss(
        variant=variant,
        siamese_cls=False,
        num_neg=4,
        effective_num_beta=beta,
        class_counts=counts)
    out1 = single(scores, emb, labels, queue, qlab)
    assert abs(out1['loss_cls'].item() -
               _siam_bs_reference(scores[:5], labels, counts)) < 1e-6


def test_module_no_reweighting_needs_no_counts_for_contrast():
    emb, labels, queue, qlab = _inputs()
    mod = ResComLoss(
        effective_num_beta=0.0,
        num_neg=4,
        cls_loss=dict(type='CrossEntropyLoss'))
    out = mod(
        torch.randn(10, 4, dtype=torch.float64), emb, labels, queue, qlab)
    ref = reference_con(emb, labels, queue, qlab, 0.2, 1, 4)
    assert abs(out['loss_con'].item() - 0.5 * ref.item()) < 1e-6


@pytest.mark.parametrize('bad', [
    dict(variant='x'),
    dict(anchor_views='second'),
    dict(weight_norm='max'),
    dict(temperature=0.),
    dict(num_pos=-1),
    dict(effective_num_beta=1.0),
    dict(num_pos=0, variant='paper'),
    dict(gather_in_batch=True, group_size=2)
])
def test_bad_args(bad):
    with pytest.raises(ValueError):
        ResComLoss(**bad)


def test_bad_inputs():
    emb, labels, queue, qlab = _inputs()
    # more negatives requested than exist: all valid ones are used
    a = rescom_contrastive_loss(
        emb, labels.repeat(2), queue, qlab, num_neg=100, num_samples=5)
    b = rescom_contrastive_loss(
        emb, labels.repeat(2), queue, qlab, num_neg=12, num_samples=5)
    assert abs(a.item() - b.item()) < 1e-12
    with pytest.raises(ValueError, match='queue_keys'):
        rescom_contrastive_loss(emb, labels.repeat(2), queue[:, :3], qlab)
    mod = ResComLoss(num_neg=4, class_counts=[3, 2, 2, 1])
    with pytest.raises(ValueError, match='cls_score'):
        mod(torch.randn(3, 4), emb, labels, queue, qlab)


# ---------------------------------------------------------------------------
# 2 processes == 1 process
# ---------------------------------------------------------------------------
def _dist_con(rank, world_size):
    emb, labels, queue, qlab = _inputs(n=8, seed=5)
    n = 8 // world_size
    idx = torch.cat([
        torch.arange(rank * n, (rank + 1) * n),
        8 + torch.arange(rank * n, (rank + 1) * n)
    ])
    w = torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    out = {}
    for mode in ('gather', 'local'):
        e = emb[idx].clone().requires_grad_()
        loss = rescom_contrastive_loss(
            e,
            labels[rank * n:(rank + 1) * n].repeat(2),
            queue,
            qlab,
            class_weight=w,
            num_pos=2,
            num_neg=5,
            num_samples=n,
            gather=mode == 'gather')
        loss.backward()
        out[mode] = dict(loss=loss.detach(), grad=e.grad)
    return out


def test_two_processes_equal_one():
    results = run_distributed(_dist_con, 2)
    emb, labels, queue, qlab = _inputs(n=8, seed=5)
    w = torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    for mode in ('gather', 'local'):
        e = emb.clone().requires_grad_()
        kw = dict() if mode == 'gather' else dict(group_size=4)
        loss = rescom_contrastive_loss(
            e,
            labels.repeat(2),
            queue,
            qlab,
            class_weight=w,
            num_pos=2,
            num_neg=5,
            num_samples=8,
            **kw)
        loss.backward()
        res = [r[mode] for r in results]
        assert abs(sum(r['loss']
                       for r in res).item() / 2 - loss.item()) < 1e-10
        grad = torch.zeros_like(emb)
        for rank, r in enumerate(res):
            idx = torch.cat([
                torch.arange(rank * 4, rank * 4 + 4),
                8 + torch.arange(rank * 4, rank * 4 + 4)
            ])
            grad[idx] = r['grad'] / 2
        torch.testing.assert_close(grad, e.grad, atol=1e-10, rtol=0)
