# Copyright (c) ltcls contributors. All rights reserved.
"""MultiTaskContrastiveLoss (PaCo's multi-task baselines, spec_paco.md §2.9)
against a plain per-anchor loop, float64."""
import math

import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses import (MultiTaskContrastiveLoss,
                                 multitask_contrastive_loss,
                                 multitask_supcon_per_anchor)
from ltcls.models.utils.effective_num import effective_num_weights
from ltcls.registry import MODELS
from ltcls.testing import run_distributed

COUNTS = [50, 30, 15, 5]


def _log_prior(counts=COUNTS):
    c = torch.tensor(counts, dtype=torch.float64)
    return (c / c.sum()).log()


def reference_multitask(center_logits,
                        anchors,
                        labels,
                        keys=None,
                        key_labels=None,
                        queue=None,
                        queue_labels=None,
                        w=0.05,
                        cls_weight=1.0,
                        t=0.2,
                        base_t=None,
                        balanced_softmax=False,
                        reweight=False,
                        contrastive_prior=False,
                        counts=COUNTS,
                        beta=0.999,
                        group_size=None,
                        num_samples=None):
    """Scalar loop (torch scalars, so autograd gives an independent
    gradient). CE / BS: -log softmax(u + [log q])_y per anchor, mean over
    anchors. SupCon: bank = [anchors; keys] (self excluded, optional
    groups) + queue (label -1 skipped); per anchor the mean over positives
    of -log(exp v_p / sum_valid exp v), v = z.F / t [+ log q(label)],
    times r_y (mean(E) / E_y); summed and divided by the number of anchors
    that have a positive."""
    a, n_cls = center_logits.shape
    lq = [math.log(c / sum(counts)) for c in counts]
    e = [(1 - beta**c) / (1 - beta) for c in counts]
    r = [sum(e) / len(e) / ek for ek in e]
    bank, bank_lab = [anchors[j] for j in range(a)], labels.tolist()
    if keys is not None:
        bank += [keys[j] for j in range(keys.shape[0])]
        bank_lab += key_labels.tolist()
    n = a if num_samples is None else num_samples
    cls_total, con_total, n_pos = 0., 0., 0
    for i in range(a):
        y = int(labels[i])
        u = [
            center_logits[i, c] + (lq[c] if balanced_softmax else 0.)
            for c in range(n_cls)
        ]
        cls_total = cls_total - (
            u[y] - torch.log(sum(torch.exp(x) for x in u)))
        den, pos = 0., []
        cols = []
        for j, (z, lab) in enumerate(zip(bank, bank_lab)):
            if j == i:
                continue
            if group_size is not None and \
                    (j % n) // group_size != (i % n) // group_size:
                continue
            cols.append(((anchors[i] * z).sum() / t, lab))
        if queue is not None:
            for j in range(queue.shape[0]):
                lab = int(queue_labels[j])
                if lab < 0:
                    continue
                cols.append(((anchors[i] * queue[j].detach()).sum() / t, lab))
        for v, lab in cols:
            if contrastive_prior:
                v = v + lq[lab]
            den = den + torch.exp(v)
            if lab == y:
                pos.append(v)
        if not pos:
            continue
        n_pos += 1
        li = -sum(v - torch.log(den) for v in pos) / len(pos)
        con_total = con_total + (r[y] if reweight else 1.) * li
    con = con_total / n_pos if n_pos else 0.
    if base_t is not None:
        con = con * t / base_t
    return cls_weight * cls_total / a + w * con


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


def _module_kwargs(opts):
    return dict(
        cls_loss='balanced_softmax' if opts.get('balanced_softmax') else 'ce',
        cls_weight=opts.get('cls_weight', 1.0),
        supcon_weight=opts.get('w', 0.05),
        temperature=opts.get('t', 0.2),
        base_temperature=opts.get('base_t'),
        reweight=opts.get('reweight', False),
        contrastive_log_prior=opts.get('contrastive_prior', False),
        class_counts=COUNTS)


def _run_both(opts, inputs, module_extra=None):
    logits, q, k, labels, queue, qlab = inputs
    mod = MultiTaskContrastiveLoss(**_module_kwargs(opts),
                                   **(module_extra or {}))
    l1, q1 = logits.clone().requires_grad_(), q.clone().requires_grad_()
    out = mod(l1, q1, labels, k, labels, queue, qlab)
    assert set(out) == {'loss_cls', 'loss_con'}
    total = out['loss_cls'] + out['loss_con']
    total.backward()
    l2, q2 = logits.clone().requires_grad_(), q.clone().requires_grad_()
    ref = reference_multitask(l2, q2, labels, k, labels, queue, qlab, **opts)
    ref.backward()
    return total, (l1.grad, q1.grad), ref, (l2.grad, q2.grad)


@pytest.mark.parametrize(
    'opts',
    [
        dict(),
        dict(w=1.0, t=0.07),
        dict(w=0.5, base_t=0.07, cls_weight=0.5),
        dict(reweight=True),
        dict(contrastive_prior=True),
        dict(balanced_softmax=True),
        dict(balanced_softmax=True, reweight=True, w=0.3),
        dict(
            balanced_softmax=True, reweight=True, contrastive_prior=True,
            w=2.),
        dict(cls_weight=0.0, w=1.0),  # plain MoCo-SupCon (Table 1 stage 1)
    ])
def test_matches_reference_loss_and_grads(opts):
    inputs = list(_inputs())
    inputs[5][3] = -1  # unfilled queue slots
    inputs[5][7] = -1
    total, grads, ref, ref_grads = _run_both(opts, inputs)
    assert total.dtype == torch.float64
    assert abs(total.item() - ref.item()) < 1e-6
    for g, rg in zip(grads, ref_grads):
        torch.testing.assert_close(g, rg, atol=1e-6, rtol=0)


def test_zero_weight_is_the_classifier_loss_alone():
    """w = 0: exactly CE / Balanced Softmax (mmpretrain's CE and ltcls'
    BalancedSoftmaxLoss), and no gradient reaches the embeddings."""
    logits, q, k, labels, queue, qlab = _inputs()
    for cls_loss, ref_cfg in (
        ('ce', dict(type='mmpretrain.CrossEntropyLoss')),
        ('balanced_softmax',
         dict(type='BalancedSoftmaxLoss', class_counts=COUNTS)),
    ):
        mod = MultiTaskContrastiveLoss(
            cls_loss=cls_loss,
            supcon_weight=0.0,
            reweight=True,
            contrastive_log_prior=True,
            class_counts=COUNTS)
        qq = q.clone().requires_grad_()
        out = mod(logits, qq, labels, k, labels, queue, qlab)
        total = out['loss_cls'] + out['loss_con']
        ref = MODELS.build(ref_cfg)(logits, labels)
        assert abs(total.item() - ref.item()) < 1e-12
        total.backward()
        assert torch.count_nonzero(qq.grad) == 0


def test_reweight_uses_effective_num_weights():
    """The per-class weights are effective_num_weights(beta=0.999, 'mean'),
    and beta = 0 gives the unweighted loss."""
    mod = MultiTaskContrastiveLoss(reweight=True, class_counts=COUNTS)
    torch.testing.assert_close(mod.class_weight,
                               effective_num_weights(COUNTS, 0.999, 'mean'))
    logits, q, k, labels, queue, qlab = _inputs()
    flat = MultiTaskContrastiveLoss(
        reweight=True, reweight_beta=0.0, class_counts=COUNTS)
    plain = MultiTaskContrastiveLoss(class_counts=COUNTS)
    a = flat(logits, q, labels, k, labels, queue, qlab)['loss_con']
    b = plain(logits, q, labels, k, labels, queue, qlab)['loss_con']
    assert abs(a.item() - b.item()) < 1e-12
    c = mod(logits, q, labels, k, labels, queue, qlab)['loss_con']
    assert abs(a.item() - c.item()) > 1e-6


def test_anchor_without_positive_and_absent_class():
    """Class 3 has a single anchor and no queue entry, and no key (keys
    given without it): no positive, loss 0 for it, left out of the mean,
    no NaN. Class 0 never appears in the bank's queue; empty slots do not
    matter."""
    logits, q, k, labels, queue, qlab = _inputs()
    labels = torch.tensor([0, 0, 1, 2, 2, 3])
    qlab = torch.tensor([1, 1, -1, 2, -1, 2, 1, -1, 2, 1])
    keys, key_labels = k[:5], labels[:5]  # no key for the class-3 anchor
    loss, has_pos = multitask_supcon_per_anchor(q, labels, keys, key_labels,
                                                queue, qlab, 0.2)
    assert has_pos.tolist() == [True] * 5 + [False]
    assert loss[5].item() == 0.0 and torch.isfinite(loss).all()
    for opts in (dict(), dict(reweight=True, contrastive_prior=True)):
        mod = MultiTaskContrastiveLoss(**_module_kwargs(opts))
        qq = q.clone().requires_grad_()
        out = mod(logits, qq, labels, keys, key_labels, queue, qlab)
        total = out['loss_cls'] + out['loss_con']
        total.backward()
        q2 = q.clone().requires_grad_()
        ref = reference_multitask(logits, q2, labels, keys, key_labels, queue,
                                  qlab, **opts)
        ref.backward()
        assert torch.isfinite(total) and abs(total.item() - ref.item()) < 1e-6
        assert torch.isfinite(qq.grad).all()
        torch.testing.assert_close(qq.grad, q2.grad, atol=1e-6, rtol=0)
    # keys in empty slots do not matter
    queue2 = queue.clone()
    queue2[qlab < 0] = F.normalize(torch.randn(3, 5, dtype=queue.dtype), 1)
    kw = dict(contrastive_log_prior=_log_prior())
    a = multitask_contrastive_loss(logits, q, labels, keys, key_labels, queue,
                                   qlab, **kw)
    b = multitask_contrastive_loss(logits, q, labels, keys, key_labels, queue2,
                                   qlab, **kw)
    assert abs(a['loss_con'].item() - b['loss_con'].item()) < 1e-12
    # an all-empty queue equals no queue at all
    empty = torch.full_like(qlab, -1)
    c = multitask_contrastive_loss(logits, q, labels, keys, key_labels, queue,
                                   empty, **kw)
    d = multitask_contrastive_loss(logits, q, labels, keys, key_labels, **kw)
    assert abs(c['loss_con'].item() - d['loss_con'].item()) < 1e-12


def test_no_anchor_with_positive_gives_zero_contrastive_term():
    logits, q, _, _, _, _ = _inputs(a=4)
    labels = torch.tensor([0, 1, 2, 3])
    qq = q.clone().requires_grad_()
    out = multitask_contrastive_loss(logits, qq, labels, supcon_weight=1.0)
    assert out['loss_con'].item() == 0.0
    out['loss_con'].backward()  # graph kept, zero gradient
    assert torch.count_nonzero(qq.grad) == 0


def test_contrastive_prior_is_constant_on_a_single_class_bank():
    """Sanity of the decision: with every bank column of one class the
    added log q(y) cancels in the softmax."""
    logits, q, k, _, queue, _ = _inputs()
    labels = torch.zeros(6, dtype=torch.long)
    qlab = torch.zeros(10, dtype=torch.long)
    a, _ = multitask_supcon_per_anchor(q, labels, k, labels, queue, qlab)
    b, _ = multitask_supcon_per_anchor(
        q, labels, k, labels, queue, qlab, log_prior=_log_prior())
    torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_group_size_emulates_per_gpu_banks():
    logits, q, k, labels, queue, qlab = _inputs(a=6)
    opts = dict(contrastive_prior=True, reweight=True)
    mod = MultiTaskContrastiveLoss(**_module_kwargs(opts), group_size=3)
    out = mod(logits, q, labels, k, labels, queue, qlab, num_samples=6)
    ref = reference_multitask(
        logits,
        q,
        labels,
        k,
        labels,
        queue,
        qlab,
        group_size=3,
        num_samples=6,
        **opts)
    assert abs(sum(out.values()).item() - ref.item()) < 1e-6


def test_module_needs_class_counts_only_when_used():
    logits, q, k, labels, queue, qlab = _inputs()
    MultiTaskContrastiveLoss()(logits, q, labels, k, labels, queue, qlab)
    for kw in (dict(cls_loss='balanced_softmax'), dict(reweight=True),
               dict(contrastive_log_prior=True)):
        mod = MODELS.build(dict(type='MultiTaskContrastiveLoss', **kw))
        with pytest.raises(RuntimeError, match='ClassCountsHook'):
            mod(logits, q, labels, k, labels, queue, qlab)
        mod.set_class_counts(COUNTS)
        mod(logits, q, labels, k, labels, queue, qlab)
        with pytest.raises(ValueError, match='classes'):
            mod(logits[:, :3], q, labels.clamp(max=2), k, labels, queue, qlab)


@pytest.mark.parametrize('bad', [
    dict(cls_loss='focal'),
    dict(temperature=0),
    dict(supcon_weight=-1),
    dict(cls_weight=-0.1),
    dict(cls_weight=0, supcon_weight=0),
    dict(reweight_beta=1.0),
    dict(base_temperature=0),
    dict(gather_bank=True, group_size=2),
    dict(group_size=0),
])
def test_bad_args(bad):
    with pytest.raises(ValueError):
        MultiTaskContrastiveLoss(**bad)


def test_bad_inputs():
    logits, q, k, labels, queue, qlab = _inputs()
    with pytest.raises(ValueError, match='labels must be in'):
        multitask_contrastive_loss(logits, q, labels + 10, k, labels, queue,
                                   qlab)
    with pytest.raises(ValueError, match='center_logits'):
        multitask_contrastive_loss(logits[:2], q, labels, k, labels, queue,
                                   qlab)
    with pytest.raises(ValueError, match='together'):
        multitask_contrastive_loss(logits, q, labels, k, labels, queue, None)
    with pytest.raises(ValueError, match='class_weight'):
        multitask_contrastive_loss(
            logits, q, labels, class_weight=torch.ones(3))


def test_paco_algorithm_runs_the_multitask_loss():
    """Swapping ``loss=dict(type=...)`` is enough: the PaCo step returns
    the two named terms and they equal the functional loss on the same
    bank."""
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='PaCo',
            backbone=dict(type='ResNet32CIFAR', depth=20),
            projector=dict(
                type='ProjectionMLP',
                in_channels=64,
                out_channels=16,
                norm_cfg=dict(type='BN1d')),
            head=dict(type='LinearClsHead', num_classes=4, in_channels=64),
            queue_len=24,
            feat_dim=16,
            loss=dict(
                type='MultiTaskContrastiveLoss',
                cls_loss='balanced_softmax',
                reweight=True,
                supcon_weight=0.5,
                class_counts=COUNTS),
            data_preprocessor=dict(num_classes=4)))
    g = torch.Generator().manual_seed(1)
    views = [torch.randn(6, 3, 16, 16, generator=g) for _ in range(2)]
    labels = torch.tensor([0, 0, 1, 2, 3, 1])
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    for _ in range(2):  # the second step sees a partly filled queue
        out = model.loss(views, samples)
    assert set(out) == {'loss_cls', 'loss_con'}
    assert all(torch.isfinite(v) for v in out.values())
    sum(out.values()).backward()
    assert model.head.fc.weight.grad is not None
    assert model.projector.parameters().__next__().grad is not None


# ---------------------------------------------------------------------------
# 2 processes == 1 process
# ---------------------------------------------------------------------------
def _dist_kwargs():
    return dict(
        cls_loss='balanced_softmax',
        supcon_weight=0.3,
        reweight=True,
        contrastive_log_prior=True,
        class_counts=COUNTS)


def _dist_inputs():
    inputs = list(_inputs(a=8, seed=3))
    inputs[3] = torch.tensor([0, 0, 1, 2, 3, 1, 1, 2])  # class 3: 1 anchor
    inputs[5][2] = -1
    return inputs


def _dist_loss(rank, world_size):
    logits, q, k, labels, queue, qlab = _dist_inputs()
    # unequal split 5 / 3: the global anchor counts make it exact anyway
    sl = slice(0, 5) if rank == 0 else slice(5, 8)
    out = {}
    for mode in ('gather', 'local'):
        mod = MultiTaskContrastiveLoss(
            **_dist_kwargs(), gather_bank=mode == 'gather')
        cl = logits[sl].clone().requires_grad_()
        qq = q[sl].clone().requires_grad_()
        loss = mod(cl, qq, labels[sl], k[sl], labels[sl], queue, qlab)
        total = loss['loss_cls'] + loss['loss_con']
        total.backward()
        out[mode] = dict(loss=total.detach(), g_logits=cl.grad, g_q=qq.grad)
    return out


def test_two_processes_equal_one():
    """gather_bank=True: 2 ranks (5 / 3 samples) == 1 process on the
    global batch, loss (mean of the rank losses) and gradients (DDP
    averages them); the local bank (default) with the same split on both
    sides: 1 process whose bank is split the same way (the class-3 anchor
    of rank 1 has no positive there)."""
    results = run_distributed(_dist_loss, 2)
    logits, q, k, labels, queue, qlab = _dist_inputs()
    mod = MultiTaskContrastiveLoss(**_dist_kwargs())
    # gather mode vs the 1-process global bank
    cl, qq = logits.clone().requires_grad_(), q.clone().requires_grad_()
    loss = mod(cl, qq, labels, k, labels, queue, qlab)
    total = loss['loss_cls'] + loss['loss_con']
    total.backward()
    res = [r['gather'] for r in results]
    assert abs(sum(r['loss'] for r in res).item() / 2 - total.item()) < 1e-10
    g_l = torch.cat([r['g_logits'] for r in res]) / 2
    g_q = torch.cat([r['g_q'] for r in res]) / 2
    torch.testing.assert_close(g_l, cl.grad, atol=1e-10, rtol=0)
    torch.testing.assert_close(g_q, qq.grad, atol=1e-10, rtol=0)
    # local mode vs the reference loop over the union of per-rank banks
    cl, qq = logits.clone().requires_grad_(), q.clone().requires_grad_()
    con_sum, n_pos = 0., 0
    cls = torch.log_softmax(cl + _log_prior(), 1)[torch.arange(8), labels]
    weights = effective_num_weights(COUNTS, 0.999, 'mean')
    for sl in (slice(0, 5), slice(5, 8)):
        per, has = multitask_supcon_per_anchor(qq[sl], labels[sl], k[sl],
                                               labels[sl], queue, qlab, 0.2,
                                               _log_prior())
        con_sum = con_sum + (per * weights[labels[sl]]).sum()
        n_pos += int(has.sum())
    total = -cls.mean() + 0.3 * con_sum / n_pos
    total.backward()
    res = [r['local'] for r in results]
    assert abs(sum(r['loss'] for r in res).item() / 2 - total.item()) < 1e-10
    g_l = torch.cat([r['g_logits'] for r in res]) / 2
    g_q = torch.cat([r['g_q'] for r in res]) / 2
    torch.testing.assert_close(g_l, cl.grad, atol=1e-10, rtol=0)
    torch.testing.assert_close(g_q, qq.grad, atol=1e-10, rtol=0)
