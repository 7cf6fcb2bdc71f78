# Copyright (c) ltcls contributors. All rights reserved.
"""Benchmark the contrastive losses at ImageNet-LT shapes.

For every loss the script measures, on the same inputs in the same run,
forward + backward wall time and peak memory of

* ``ltcls``: the ltcls functional loss;
* ``ref``: a *PyTorch reference*, a straightforward dense implementation
  written the way the papers' code is (full (A, M) masks, one softmax over
  the row -- max-shifted ``exp``, masked sum, ``log`` -- a mask multiply,
  sum / normalise), written from the formulas of the specs and of ltcls's
  docstrings; its ratio to ltcls is what the official code's would be;
* ``naive`` (SupCon, KCL, FCL, PSC; ``--naive``): a Python loop over anchors;
* ``base`` (``--baseline-src DIR``): the ltcls loss of another source tree
  (e.g. a checkout of the commit before a change), run by a worker whose
  ``PYTHONPATH`` is ``DIR``, so that a before / after table comes from one
  run with the same threads, inputs and repetitions.

Every variant runs in its own persistent worker process (``PYTHONPATH`` =
its source tree, passive OpenMP waits so that idle workers do not spin);
the repetitions are interleaved (rep 1 of every variant,
then rep 2, ...) so that a noisy machine affects all alike, and the median
is reported. Peak memory is measured once per variant in a fresh process:
the peak RSS (VmHWM, reset through /proc/self/clear_refs) minus the RSS
before the call, autograd graph and gradients included (CPU has no
allocator statistics; a fixed glibc mmap threshold makes RSS follow the
live tensors).

``--check`` runs every loss on small float64 inputs and asserts that the
ltcls loss, the reference and (where deterministic) the naive loop agree,
values and input gradients (tests/test_tools/test_benchmark_losses.py).

Shapes (``SHAPES``; ImageNet-LT, spec_kcl.md §2.7, spec_paco.md,
spec_rescom.md, spec_sbcl.md): embedding dim 128, 1,000 classes with
ImageNet-LT-like label frequencies (1,280 .. 5 per class).

Adding a loss: write ``make(batch, queue, seed, dtype) -> dict``, an
``ltcls(x) -> loss``, a ``ref(x) -> loss`` (and optionally ``naive``), and
add them to ``ENTRIES`` / ``SHAPES``.

Examples::

    OMP_NUM_THREADS=2 python tools/analysis_tools/benchmark_losses.py \\
        --threads 2 --repeat 5
    python tools/analysis_tools/benchmark_losses.py --losses rescom kcl \\
        --baseline-src /path/to/old/checkout --repeat 7
    python tools/analysis_tools/benchmark_losses.py --check
"""
import argparse
import json
import math
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

DIM = 128
NUM_CLASSES = 1000
HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))

#: name -> (batch B, queue length K): the issue's ImageNet-LT shapes
SHAPES = {
    'supcon': (256, 0),  # 2 views: 2B anchors, in-batch only
    'kcl': (128, 65536),
    'fcl': (128, 65536),
    'psc': (128, 0),  # 2B anchors vs PSC_CLASSES prototypes
    'paco': (128, 8192),
    'gpaco': (128, 0),
    'gpaco-queue': (128, 8192),
    'multitask': (128, 8192),
    'rescom': (128, 8000),  # 8 keys per class x 1000, Q_p=1, Q_n=1600
    'sbcl': (512, 0),  # in-batch, 2 views
    'sbcl-moco': (128, 65536),
}
#: small shapes of --check
CHECK_SHAPES = dict(dict.fromkeys(SHAPES, (12, 40)), gpaco=(12, 0))
CHECK_CLASSES = 5
PSC_CLASSES = 8142  # iNaturalist 2018's prototype bank (spec_hybrid §2.7)


def _counts(num_classes):
    """ImageNet-LT-like per-class counts (1,280 .. 5), computed here so that
    every source tree gets the same inputs."""
    n = [
        int(1280 * (5 / 1280)**(i / max(num_classes - 1, 1)))
        for i in range(num_classes)
    ]
    return torch.tensor(n, dtype=torch.float64)


def _labels(n, g, num_classes):
    return torch.multinomial(
        _counts(num_classes), n, replacement=True, generator=g)


def _unit(n, g, dtype, grad=False):
    x = F.normalize(torch.randn(n, DIM, generator=g, dtype=dtype), dim=1)
    return x.requires_grad_(grad)


def _leaf(n, g, dtype):
    return torch.randn(n, DIM, generator=g, dtype=dtype).requires_grad_()


def _queue(k, g, dtype, num_classes, empty_frac=0.01):
    keys = _unit(k, g, dtype)
    labels = _labels(k, g, num_classes)
    if empty_frac:
        labels[torch.rand(k, generator=g) < empty_frac] = -1
    return keys, labels


def dense_nce(logits, mask, logits_mask):
    """The papers' (SupContrast / PaCo code) dense form: per anchor,
    ``- sum_j mask_ij log_prob_ij / sum_j mask_ij`` with ``log_prob =
    logits - log sum_j logits_mask_ij exp(logits_ij)`` (max-shifted).

    Returns:
        tuple: per-anchor loss (A,) (0 where no positive), keep (A,) bool.
    """
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    den = mask.sum(1)
    keep = den > 0
    mean_log_prob_pos = (mask * log_prob).sum(1) / den.clamp_min(1e-12)
    return torch.where(keep, -mean_log_prob_pos, 0.0), keep


def _mean_kept(loss, keep, weight=None):
    if weight is not None:
        loss = loss * weight
    return loss.sum() / keep.sum().clamp_min(1)


# --------------------------------------------------------------- SupCon ---
def supcon_make(batch, queue, seed=0, dtype=torch.float32, nc=NUM_CLASSES):
    g = torch.Generator().manual_seed(seed)
    y = _labels(batch, g, nc)
    return dict(feats=_leaf(2 * batch, g, dtype), labels=y.repeat(2), t=0.1)


def supcon_ltcls(x):
    from ltcls.models.losses import supcon_loss
    return supcon_loss(
        F.normalize(x['feats'], dim=1), x['labels'], temperature=x['t'])


def supcon_ref(x):
    z = F.normalize(x['feats'], dim=1)
    n = z.shape[0]
    logits = z @ z.t() / x['t']
    logits_mask = 1 - torch.eye(n, dtype=z.dtype)
    mask = (x['labels'][:, None] == x['labels'][None]).to(z.dtype)
    mask = mask * logits_mask
    return _mean_kept(*dense_nce(logits, mask, logits_mask))


def supcon_naive(x):
    z = F.normalize(x['feats'], dim=1)
    total, count = 0., 0
    for i in range(z.shape[0]):
        s = torch.cat([z[:i] @ z[i], z[i + 1:] @ z[i]]) / x['t']
        labels = torch.cat([x['labels'][:i], x['labels'][i + 1:]])
        pos = labels == x['labels'][i]
        if not pos.any():
            continue
        total = total - (s[pos] - torch.logsumexp(s, 0)).mean()
        count += 1
    return total / max(count, 1)


# ------------------------------------------------------------- KCL / FCL ---
def kcl_make(batch, queue, seed=0, dtype=torch.float32, nc=NUM_CLASSES):
    g = torch.Generator().manual_seed(seed)
    qk, ql = _queue(queue, g, dtype, nc)
    return dict(
        q=_leaf(batch, g, dtype),
        k=_unit(batch, g, dtype),
        labels=_labels(batch, g, nc),
        qk=qk,
        ql=ql,
        t=0.07)


def _kcl_ltcls(x, pos_k):
    from ltcls.models.losses import kcl_loss
    return kcl_loss(
        F.normalize(x['q'], dim=1),
        x['k'],
        x['labels'],
        x['qk'],
        x['ql'],
        pos_k,
        x['t'],
        'random',
        row_offset=0)


def _kcl_chosen(x, pos_k):
    """The positives KCL selects (ltcls's seeded draw: the selection is not
    part of the loss numerics, so the reference uses the same one)."""
    from ltcls.models.losses.kcl_loss import select_positives
    same = (x['labels'][:, None] == x['ql'][None]) & (x['ql'] >= 0)[None]
    return select_positives(same, pos_k, 'random', 0, 0, row_offset=0)


def _kcl_ref(x, pos_k):
    q = F.normalize(x['q'], dim=1)
    logits = torch.cat([(q * x['k']).sum(1, keepdim=True), q @ x['qk'].t()],
                       1) / x['t']
    ones = torch.ones(q.shape[0], 1, dtype=q.dtype)
    mask = torch.cat([ones, _kcl_chosen(x, pos_k).to(q.dtype)], 1)
    logits_mask = torch.cat(
        [ones, (x['ql'] >= 0).to(q.dtype)[None].expand(q.shape[0], -1)], 1)
    return _mean_kept(*dense_nce(logits, mask, logits_mask))


def _kcl_naive(x, pos_k):
    q = F.normalize(x['q'], dim=1)
    chosen = _kcl_chosen(x, pos_k)
    valid = x['ql'] >= 0
    total = 0.
    for i in range(q.shape[0]):
        s = torch.cat([(q[i] @ x['k'][i]).view(1), x['qk'] @ q[i]]) / x['t']
        lse = torch.logsumexp(s[1:][valid], 0)
        lse = torch.logaddexp(lse, s[0])
        pos = torch.cat([s[:1], s[1:][chosen[i]]])
        total = total - (pos - lse).mean()
    return total / q.shape[0]


def kcl_ltcls(x):
    return _kcl_ltcls(x, 6)


def kcl_ref(x):
    return _kcl_ref(x, 6)


def kcl_naive(x):
    return _kcl_naive(x, 6)


def fcl_ltcls(x):
    return _kcl_ltcls(x, None)


def fcl_ref(x):
    return _kcl_ref(x, None)


def fcl_naive(x):
    return _kcl_naive(x, None)


# ------------------------------------------------ PSC (Hybrid-PSC, Eq. 4) ---
def psc_make(batch, queue, seed=0, dtype=torch.float32, nc=NUM_CLASSES):
    g = torch.Generator().manual_seed(seed)
    c = PSC_CLASSES if nc == NUM_CLASSES else nc
    return dict(
        feats=_leaf(2 * batch, g, dtype),
        labels=torch.randint(0, c, (2 * batch, ), generator=g),
        protos=torch.randn(c, DIM, generator=g, dtype=dtype).requires_grad_(),
        t=0.1)


def psc_ltcls(x):
    from ltcls.models.losses import psc_loss
    return psc_loss(x['feats'], x['labels'], x['protos'], x['t'])


def psc_ref(x):
    z = F.normalize(x['feats'], dim=1)
    p = F.normalize(x['protos'], dim=1)
    logits = z @ p.t() / x['t']
    mask = F.one_hot(x['labels'], p.shape[0]).to(z.dtype)
    # Eq. 4: the positive prototype is not in the denominator
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    den = (torch.exp(logits) * (1 - mask)).sum(1)
    return (torch.log(den) - (logits * mask).sum(1)).mean()


def psc_naive(x):
    z = F.normalize(x['feats'], dim=1)
    p = F.normalize(x['protos'], dim=1)
    total = 0.
    for i in range(z.shape[0]):
        s = p @ z[i] / x['t']
        y = int(x['labels'][i])
        total = total - s[y] + torch.logsumexp(
            torch.cat([s[:y], s[y + 1:]]), 0)
    return total / z.shape[0]


# ------------------------------------------------------ PaCo / GPaCo ---
def paco_make(batch,
              queue,
              seed=0,
              dtype=torch.float32,
              nc=NUM_CLASSES,
              views=1):
    g = torch.Generator().manual_seed(seed)
    y = _labels(batch, g, nc)
    a = views * batch
    x = dict(
        q=_leaf(a, g, dtype),
        labels=y.repeat(views),
        nc=nc,
        center=torch.randn(a, nc, generator=g, dtype=dtype).requires_grad_(),
        log_prior=torch.log(_counts(nc) / _counts(nc).sum()).to(dtype),
        alpha=0.05,
        t=0.2,
        base_t=0.2,
        ls=0.0,
        num_samples=batch)
    if views == 1:  # PaCo: the momentum keys of the batch join the bank
        x['k'] = _unit(batch, g, dtype)
    if queue:
        x['qk'], x['ql'] = _queue(queue, g, dtype, nc)
    return x


def gpaco_make(batch, queue, seed=0, dtype=torch.float32, nc=NUM_CLASSES):
    x = paco_make(batch, queue, seed, dtype, nc, views=2)
    x.update(alpha=0.045, log_prior=None)
    if dtype == torch.float64:  # --check: label smoothing covered too
        x['ls'] = 0.1
    return x


def paco_ltcls(x):
    from ltcls.models.losses import paco_loss
    k = x.get('k')
    return paco_loss(
        x['center'],
        F.normalize(x['q'], dim=1),
        x['labels'],
        k,
        None if k is None else x['labels'],
        x.get('qk'),
        x.get('ql'),
        alpha=x['alpha'],
        temperature=x['t'],
        base_temperature=x['base_t'],
        log_prior=x['log_prior'],
        label_smoothing=x['ls'],
        num_samples=x['num_samples'])


def _bank(x, q):
    """PaCo's contrast bank [anchors; keys; queue], its labels and the
    logits mask (self and empty slots out), as the official code builds
    it (full (A, M) masks)."""
    feats, labels = [q], [x['labels']]
    if x.get('k') is not None:
        feats.append(x['k'])
        labels.append(x['labels'])
    if x.get('qk') is not None:
        feats.append(x['qk'])
        labels.append(x['ql'])
    feats, labels = torch.cat(feats), torch.cat(labels)
    a = q.shape[0]
    logits_mask = torch.ones(a, feats.shape[0], dtype=q.dtype)
    logits_mask[torch.arange(a), torch.arange(a)] = 0
    logits_mask = logits_mask * (labels >= 0).to(q.dtype)[None]
    mask = (x['labels'][:, None] == labels[None]).to(q.dtype) * logits_mask
    return q @ feats.t() / x['t'], mask, logits_mask


def paco_ref(x):
    q = F.normalize(x['q'], dim=1)
    sim, mask, logits_mask = _bank(x, q)
    sup = x['center']
    if x['log_prior'] is not None:
        sup = sup + x['log_prior']
    one_hot = F.one_hot(x['labels'], x['nc']).to(q.dtype)
    if x['ls']:
        one_hot = one_hot * (1 - x['ls']) + (1 - one_hot) * (
            x['ls'] / (x['nc'] - 1))
    mask = torch.cat([one_hot, x['alpha'] * mask], 1)
    logits_mask = torch.cat([torch.ones_like(one_hot), logits_mask], 1)
    loss, keep = dense_nce(torch.cat([sup, sim], 1), mask, logits_mask)
    return _mean_kept(loss, keep) * (x['t'] / x['base_t'])


def multitask_ltcls(x):
    from ltcls.models.losses import multitask_contrastive_loss
    out = multitask_contrastive_loss(
        x['center'],
        F.normalize(x['q'], dim=1),
        x['labels'],
        x['k'],
        x['labels'],
        x['qk'],
        x['ql'],
        temperature=x['t'],
        cls_log_prior=x['log_prior'],
        num_samples=x['num_samples'])
    return out['loss_cls'] + out['loss_con']


def multitask_ref(x):
    q = F.normalize(x['q'], dim=1)
    sim, mask, logits_mask = _bank(x, q)
    ce = F.cross_entropy(x['center'] + x['log_prior'], x['labels'])
    return ce + 0.05 * _mean_kept(*dense_nce(sim, mask, logits_mask))


# --------------------------------------------------------------- ResCom ---
RESCOM_QP, RESCOM_QN = 1, 1600


def rescom_make(batch, queue, seed=0, dtype=torch.float32, nc=NUM_CLASSES):
    g = torch.Generator().manual_seed(seed)
    y = _labels(batch, g, nc)
    per_class = max(queue // nc, 1)
    counts = _counts(nc)
    e = (1 - 0.999**counts) / (1 - 0.999)  # effective numbers
    return dict(
        z=_leaf(2 * batch, g, dtype),
        labels=y.repeat(2),
        qk=_unit(nc * per_class, g, dtype),
        ql=torch.arange(nc).repeat_interleave(per_class),
        w=(e.mean() / e).to(dtype),
        t=0.2,
        qp=RESCOM_QP if nc == NUM_CLASSES else 2,
        qn=RESCOM_QN if nc == NUM_CLASSES else 9)


def rescom_ltcls(x):
    from ltcls.models.losses import rescom_contrastive_loss
    return rescom_contrastive_loss(
        F.normalize(x['z'], dim=1),
        x['labels'],
        x['qk'],
        x['ql'],
        class_weight=x['w'],
        temperature=x['t'],
        num_pos=x['qp'],
        num_neg=x['qn'])


def rescom_ref(x):
    z = F.normalize(x['z'], dim=1)
    y, a = x['labels'], z.shape[0]
    sim_q = z @ x['qk'].t()  # (A, L)
    qp, qn = min(x['qp'], sim_q.shape[1]), min(x['qn'], sim_q.shape[1])
    is_pos = y[:, None] == x['ql'][None]
    with torch.no_grad():  # hard pairs: the least similar positives, the
        # most similar negatives (topk, as the ResCom code)
        pos_idx = sim_q.masked_fill(~is_pos, float('inf')).topk(
            qp, dim=1, largest=False).indices
        neg_idx = sim_q.masked_fill(is_pos, float('-inf')).topk(
            qn, dim=1).indices
    pos_valid = is_pos.gather(1, pos_idx).to(z.dtype)
    neg_valid = (~is_pos).gather(1, neg_idx).to(z.dtype)
    logits = torch.cat(
        [z @ z.t(),
         sim_q.gather(1, pos_idx),
         sim_q.gather(1, neg_idx)], 1) / x['t']
    not_self = 1 - torch.eye(a, dtype=z.dtype)
    mask_b = (y[:, None] == y[None]).to(z.dtype) * not_self
    mask = torch.cat([mask_b, pos_valid, torch.zeros_like(neg_valid)], 1)
    logits_mask = torch.cat([not_self, pos_valid, neg_valid], 1)
    loss, keep = dense_nce(logits, mask, logits_mask)
    return _mean_kept(loss, keep, x['w'][y])


# ----------------------------------------------------------------- SBCL ---
def _sub_labels(y, g):
    return y * 3 + torch.randint(0, 3, y.shape, generator=g)


def sbcl_make(batch, queue, seed=0, dtype=torch.float32, nc=NUM_CLASSES):
    g = torch.Generator().manual_seed(seed)
    y = _labels(batch, g, nc)
    return dict(
        feats=torch.randn(batch, 2, DIM, generator=g,
                          dtype=dtype).requires_grad_(),
        labels=y,
        sub=_sub_labels(y, g),
        tau2=0.1 + 0.1 * torch.rand(nc, generator=g, dtype=dtype),
        tau1=0.1,
        base_t=0.07,
        beta=0.25)


def sbcl_ltcls(x):
    from ltcls.models.losses import sbcl_loss
    return sbcl_loss(
        F.normalize(x['feats'], dim=2), x['labels'], x['sub'], x['tau2'],
        x['tau1'], x['base_t'], x['beta'])


def sbcl_ref(x):
    z = F.normalize(x['feats'], dim=2)
    b = z.shape[0]
    z = z.transpose(0, 1).reshape(2 * b, DIM)  # view-major
    y, s = x['labels'].repeat(2), x['sub'].repeat(2)
    inst = torch.arange(b).repeat(2)
    one = torch.ones((), dtype=z.dtype)
    not_self = one - torch.eye(2 * b, dtype=z.dtype)
    same_y = (y[:, None] == y[None]).to(z.dtype)
    same_s = (s[:, None] == s[None]).to(z.dtype) * same_y
    partner = (inst[:, None] == inst[None]).to(z.dtype) * not_self
    sim = z @ z.t()
    # T1: SupCon over subclasses
    t1, k1 = dense_nce(sim / x['tau1'], same_s * not_self, not_self)
    # T2: same class, other subclass (+ the partner view); own subclass out
    den2 = torch.maximum((one - same_s) * not_self, partner)
    pos2 = torch.maximum(same_y * (one - same_s), partner) * den2
    t2, k2 = dense_nce(sim / x['tau2'][y][:, None], pos2, den2)
    return (x['tau1'] / x['base_t']) * _mean_kept(t1, k1) + \
        x['beta'] * _mean_kept(t2, k2)


def sbcl_moco_make(batch, queue, seed=0, dtype=torch.float32, nc=NUM_CLASSES):
    g = torch.Generator().manual_seed(seed)
    y = _labels(batch, g, nc)
    qk, ql = _queue(queue, g, dtype, nc)
    qs = torch.where(ql >= 0, _sub_labels(ql.clamp_min(0), g), -1)
    return dict(
        q=_leaf(batch, g, dtype),
        k=_unit(batch, g, dtype),
        labels=y,
        sub=_sub_labels(y, g),
        qk=qk,
        ql=ql,
        qs=qs,
        tau2=0.1 + 0.1 * torch.rand(nc, generator=g, dtype=dtype),
        tau1=0.07,
        beta=0.2)


def sbcl_moco_ltcls(x):
    from ltcls.models.losses import sbcl_queue_loss
    return sbcl_queue_loss(
        F.normalize(x['q'], dim=1),
        x['k'],
        x['labels'],
        x['sub'],
        x['qk'],
        x['ql'],
        x['qs'],
        x['tau2'],
        x['tau1'],
        beta=x['beta'])


def sbcl_moco_ref(x):
    q = F.normalize(x['q'], dim=1)
    b = q.shape[0]
    logits = torch.cat([(q * x['k']).sum(1, keepdim=True), q @ x['qk'].t()], 1)
    ones = torch.ones(b, 1, dtype=q.dtype)
    q_valid = (x['ql'] >= 0).to(q.dtype)[None].expand(b, -1)
    same_y = (x['labels'][:, None] == x['ql'][None]).to(q.dtype) * q_valid
    same_s = (x['sub'][:, None] == x['qs'][None]).to(q.dtype) * same_y
    t1, k1 = dense_nce(logits / x['tau1'], torch.cat([ones, same_s], 1),
                       torch.cat([ones, q_valid], 1))
    t2, k2 = dense_nce(logits / x['tau2'][x['labels']][:, None],
                       torch.cat([ones, same_y - same_s], 1),
                       torch.cat([ones, q_valid - same_s], 1))
    return _mean_kept(t1, k1) + x['beta'] * _mean_kept(t2, k2)


#: name -> (make, ltcls, ref, naive or None, naive deterministic)
ENTRIES = {
    'supcon': (supcon_make, supcon_ltcls, supcon_ref, supcon_naive),
    'kcl': (kcl_make, kcl_ltcls, kcl_ref, kcl_naive),
    'fcl': (kcl_make, fcl_ltcls, fcl_ref, fcl_naive),
    'psc': (psc_make, psc_ltcls, psc_ref, psc_naive),
    'paco': (paco_make, paco_ltcls, paco_ref, None),
    'gpaco': (gpaco_make, paco_ltcls, paco_ref, None),
    'gpaco-queue': (gpaco_make, paco_ltcls, paco_ref, None),
    'multitask': (paco_make, multitask_ltcls, multitask_ref, None),
    'rescom': (rescom_make, rescom_ltcls, rescom_ref, None),
    'sbcl': (sbcl_make, sbcl_ltcls, sbcl_ref, None),
    'sbcl-moco': (sbcl_moco_make, sbcl_moco_ltcls, sbcl_moco_ref, None),
}
VARIANT_FN = dict(ltcls=1, base=1, ref=2, naive=3)


def grad_leaves(x):
    return [
        v for v in x.values()
        if isinstance(v, torch.Tensor) and v.requires_grad
    ]


def fwd_bwd(fn, x):
    for v in grad_leaves(x):
        v.grad = None
    loss = fn(x)
    loss.backward()
    return loss.detach()


def check(names=None, rtol=1e-9, atol=1e-12):
    """Small float64 inputs: ltcls == reference (== naive), values and
    gradients of every input leaf. Returns {name: max abs loss diff}."""
    out = {}
    for name in names or ENTRIES:
        make, ltcls, ref, naive = ENTRIES[name]
        batch, queue = CHECK_SHAPES[name]
        x = make(batch, queue, 0, torch.float64, CHECK_CLASSES)
        results = []
        for fn in (ltcls, ref) + ((naive, ) if naive else ()):
            loss = fwd_bwd(fn, x)
            results.append((loss, [v.grad.clone() for v in grad_leaves(x)]))
        (l0, g0) = results[0]
        diff = 0.0
        for (l1, g1) in results[1:]:
            torch.testing.assert_close(
                l1, l0, rtol=rtol, atol=atol, msg=f'{name}: loss')
            for a, b in zip(g1, g0):
                torch.testing.assert_close(
                    a, b, rtol=rtol, atol=atol, msg=f'{name}: gradient')
            diff = max(diff, float((l1 - l0).abs()))
        assert bool(torch.isfinite(l0)) and float(l0) > 0, name
        out[name] = diff
    return out


# ------------------------------------------------------------- workers ---
def _status_kb(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(field)


def _peak(fn, x):
    fwd_bwd(fn, x)  # lazy initialisations happen outside the measurement
    try:
        # Linux: writing 5 resets the peak RSS (VmHWM) to the current RSS
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        base = _status_kb('VmRSS')
        fwd_bwd(fn, x)
        peak = _status_kb('VmHWM')
    except OSError:  # no /proc: growth of ru_maxrss (coarser)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fwd_bwd(fn, x)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak - base) / 1024.0  # kB -> MB


def worker(threads):
    """Line protocol on stdin / stdout (JSON): ``setup`` builds the inputs
    of a loss, ``time`` runs one forward + backward of a variant,
    ``peak`` measures its peak memory (use a fresh worker for it)."""
    torch.set_num_threads(threads)
    x, fns = None, None
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd['op'] == 'setup':
            entry = ENTRIES[cmd['name']]
            x = entry[0](cmd['batch'], cmd['queue'])
            fns = {v: entry[i] for v, i in VARIANT_FN.items()}
            for v in cmd['variants']:
                fwd_bwd(fns[v], x)  # warm-up
            reply = dict(ok=True)
        elif cmd['op'] == 'time':
            t0 = time.perf_counter()
            fwd_bwd(fns[cmd['variant']], x)
            reply = dict(seconds=time.perf_counter() - t0)
        elif cmd['op'] == 'peak':
            reply = dict(mb=_peak(fns[cmd['variant']], x))
        else:
            break
        print(json.dumps(reply), flush=True)


class Worker:
    """A persistent worker process importing ltcls from ``src``."""

    def __init__(self, src, threads, mmap_threshold=False):
        # passive OpenMP waits: the idle workers' threads must not spin
        # while another worker is timed
        env = dict(
            os.environ,
            PYTHONPATH=src,
            OMP_WAIT_POLICY='PASSIVE',
            OMP_NUM_THREADS=str(threads))
        if mmap_threshold:
            # every buffer >= 64 kB its own mapping, returned to the OS
            # when freed: RSS follows the live tensors
            env['MALLOC_MMAP_THRESHOLD_'] = '65536'
        self.proc = subprocess.Popen([
            sys.executable,
            osp.abspath(__file__), '--worker', '--threads',
            str(threads)
        ],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     env=env,
                                     cwd=src,
                                     text=True)

    def ask(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + '\n')
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f'benchmark worker died on {cmd}')
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def peak_mb(src, name, batch, queue, variant, threads):
    w = Worker(src, threads, mmap_threshold=True)
    try:
        w.ask(op='setup', name=name, batch=batch, queue=queue, variants=[])
        return w.ask(op='peak', variant=variant)['mb']
    finally:
        w.close()


def measure(name, batch, queue, variants, srcs, repeat, threads, memory):
    """Median time (s) and peak memory (MB) of each variant; ``srcs`` maps a
    variant to its source tree. Repetitions are interleaved."""
    workers = {v: Worker(srcs[v], threads) for v in variants}
    try:
        for v, w in workers.items():
            w.ask(
                op='setup', name=name, batch=batch, queue=queue, variants=[v])
        times = {v: [] for v in variants}
        for _ in range(repeat):
            for v, w in workers.items():
                times[v].append(w.ask(op='time', variant=v)['seconds'])
    finally:
        for w in workers.values():
            w.close()
    mem = {
        v:
        peak_mb(srcs[v], name, batch, queue, v, threads)
        if memory else float('nan')
        for v in variants
    }
    return {v: statistics.median(t) for v, t in times.items()}, mem


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--losses', nargs='+', default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--scale',
        type=float,
        default=1.0,
        help='multiply every batch and queue length')
    parser.add_argument(
        '--naive',
        action='store_true',
        help='also time the per-anchor loops (slow)')
    parser.add_argument(
        '--baseline-src',
        default=None,
        help='source tree of the "base" variant')
    parser.add_argument(
        '--src', default=ROOT, help='source tree of the ltcls variant')
    parser.add_argument(
        '--no-memory',
        action='store_true',
        help='skip the peak-memory measurement')
    parser.add_argument(
        '--check',
        action='store_true',
        help='assert ltcls == reference (float64) and exit')
    parser.add_argument('--json', default=None, help='also write rows here')
    parser.add_argument(
        '--worker', action='store_true', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _fmt_ratio(a, b):
    return f'{a / b:.2f}' if b > 0 and not math.isnan(a / b) else 'n/a'


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args.threads)
    if args.check:
        for name, diff in check(args.losses).items():
            print(
                f'{name}: ltcls == reference (float64), |dloss| '
                f'{diff:.1e}',
                flush=True)
        return
    torch.set_num_threads(args.threads)
    srcs = dict(
        ltcls=args.src, ref=args.src, naive=args.src, base=args.baseline_src)
    header = [
        'loss', 'B', 'K', 'ltcls ms', 'ref ms', 'ltcls/ref time', 'ltcls MB',
        'ref MB', 'ltcls/ref mem'
    ]
    if args.baseline_src:
        header += [
            'base ms', 'base/ref time', 'ltcls/base time', 'base MB',
            'ltcls/base mem'
        ]
    if args.naive:
        header += ['naive ms', 'naive/ltcls time']
    print(f'threads {args.threads}, median of {args.repeat} interleaved '
          f'fwd+bwd')
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    rows = []
    for name in args.losses:
        batch, queue = SHAPES[name]
        batch = max(int(batch * args.scale), 2)
        queue = int(queue * args.scale)
        variants = ['ltcls', 'ref']
        if args.baseline_src:
            variants.append('base')
        if args.naive and ENTRIES[name][3] is not None:
            variants.append('naive')
        t, m = measure(name, batch, queue, variants, srcs, args.repeat,
                       args.threads, not args.no_memory)
        row = [
            name, batch, queue, f"{t['ltcls'] * 1e3:.1f}",
            f"{t['ref'] * 1e3:.1f}",
            _fmt_ratio(t['ltcls'],
                       t['ref']), f"{m['ltcls']:.1f}", f"{m['ref']:.1f}",
            _fmt_ratio(m['ltcls'], m['ref'])
        ]
        if args.baseline_src:
            row += [
                f"{t['base'] * 1e3:.1f}",
                _fmt_ratio(t['base'], t['ref']),
                _fmt_ratio(t['ltcls'], t['base']), f"{m['base']:.1f}",
                _fmt_ratio(m['ltcls'], m['base'])
            ]
        if args.naive:
            tn = t.get('naive', float('nan'))
            row += [f'{tn * 1e3:.1f}', _fmt_ratio(tn, t['ltcls'])]
        rows.append(dict(zip(header, row), times=t, memory=m))
        print('| ' + ' | '.join(str(v) for v in row) + ' |', flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
