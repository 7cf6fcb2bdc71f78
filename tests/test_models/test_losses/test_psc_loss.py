# Copyright (c) ltcls contributors. All rights reserved.
"""PSCLoss (Hybrid-PSC, Eq. 4 / 5) against an independent per-anchor loop."""
import math

import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses import multi_positive_nce
from ltcls.models.losses.psc_loss import PSCLoss, psc_loss
from ltcls.registry import MODELS
from ltcls.testing import run_distributed


def reference_psc(features, labels, prototypes, tau, exclude_positive=True,
                  affinity='uniform'):
    """Plain per-anchor loop of Eq. 4 / Eq. 5 built from scalar torch ops
    (so autograd gives an independent reference gradient).

    Returns (per-anchor list with None for ignored anchors, mean)."""
    if prototypes.dim() == 2:
        prototypes = prototypes.unsqueeze(1)
    num_classes, num_protos, _ = prototypes.shape
    per_anchor = []
    for i in range(features.shape[0]):
        y = int(labels[i])
        if y < 0:
            per_anchor.append(None)
            continue
        z = features[i] / features[i].norm()
        sims = {}
        for c in range(num_classes):
            for m in range(num_protos):
                p = prototypes[c, m] / prototypes[c, m].norm()
                sims[c, m] = (z * p).sum() / tau
        den = 0.
        for (c, m), s in sims.items():
            if exclude_positive and c == y:
                continue
            den = den + torch.exp(s)
        pos = [sims[y, k] for k in range(num_protos)]
        if affinity == 'softmax':
            e = [math.exp(float(s)) for s in pos]  # detached weights
            w = [v / sum(e) for v in e]
        else:
            w = [1.0 / num_protos] * num_protos
        loss = 0.
        for k in range(num_protos):
            loss = loss - torch.log(w[k] * torch.exp(pos[k]) / den)
        per_anchor.append(loss / num_protos)
    valid = [v for v in per_anchor if v is not None]
    mean = sum(valid) / len(valid) if valid else None
    return per_anchor, mean


def _inputs(n=14, c=5, d=8, m=1, seed=0, ignore=()):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, d, generator=g, dtype=torch.float64)
    labels = torch.randint(0, c, (n, ), generator=g)
    for i in ignore:
        labels[i] = -1
    shape = (c, d) if m == 1 else (c, m, d)
    protos = torch.randn(shape, generator=g, dtype=torch.float64)
    return feats, labels, protos


@pytest.mark.parametrize('tau', [0.1, 1.0])
@pytest.mark.parametrize('m,affinity', [(1, 'uniform'), (3, 'uniform'),
                                        (3, 'softmax')])
@pytest.mark.parametrize('exclude_positive', [True, False])
def test_matches_reference_loss_and_grads(tau, m, affinity,
                                          exclude_positive):
    feats, labels, protos = _inputs(m=m, ignore=(2, 7))
    f1 = feats.clone().requires_grad_()
    p1 = protos.clone().requires_grad_()
    per = psc_loss(f1, labels, p1, tau, exclude_positive, affinity,
                   reduction='none')
    mean = psc_loss(f1, labels, p1, tau, exclude_positive, affinity)
    f2 = feats.clone().requires_grad_()
    p2 = protos.clone().requires_grad_()
    ref_per, ref_mean = reference_psc(f2, labels, p2, tau, exclude_positive,
                                      affinity)
    assert per.dtype == torch.float64
    for i, r in enumerate(ref_per):
        expected = 0.0 if r is None else float(r.detach())
        assert abs(float(per[i]) - expected) < 1e-6, i
    assert abs(float(mean) - float(ref_mean)) < 1e-6
    mean.backward()
    ref_mean.backward()
    torch.testing.assert_close(f1.grad, f2.grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(p1.grad, p2.grad, atol=1e-6, rtol=0)
    # ignored anchors get no gradient
    assert f1.grad[[2, 7]].abs().max() == 0


def test_positive_not_in_denominator():
    """Eq. 4 differs from CE over prototypes by exactly log(1 + e^{s_pos} /
    sum_neg e^{s_neg}), and moving the positive prototype leaves the
    denominator untouched."""
    feats, labels, protos = _inputs(n=9, c=4, d=6, seed=3)
    tau = 0.5
    psc = psc_loss(feats, labels, protos, tau, reduction='none')
    logits = F.normalize(feats, dim=1) @ F.normalize(protos, dim=1).t() / tau
    ce = F.cross_entropy(logits, labels, reduction='none')
    s_pos = logits.gather(1, labels[:, None])[:, 0]
    neg = logits.scatter(1, labels[:, None], float('-inf'))
    torch.testing.assert_close(psc, -s_pos + torch.logsumexp(neg, 1),
                               atol=1e-10, rtol=0)
    torch.testing.assert_close(
        ce - psc, torch.log1p(torch.exp(s_pos - torch.logsumexp(neg, 1))),
        atol=1e-10, rtol=0)
    # the plain-CE ablation equals multi_positive_nce with a one-hot mask
    plain = psc_loss(feats, labels, protos, tau, exclude_positive=False,
                     reduction='none')
    nce, _ = multi_positive_nce(logits, F.one_hot(labels, 4).double())
    torch.testing.assert_close(plain, nce, atol=1e-10, rtol=0)
    torch.testing.assert_close(plain, ce, atol=1e-10, rtol=0)


def test_gradient_wrt_affinities_paper_sec44():
    """d l_i / d s_{i,y_i} = -1 and the negatives' gradients are a softmax
    over the negatives only (sum to +1), as in the paper's gradient
    analysis. Prototypes are the first C basis vectors of R^{C+1}, so
    s = z[:C] / tau, and the extra coordinate lets us undo the feature
    normalisation's projection: r = (I - z z^T) g with g_{C} = 0."""
    c, n, tau = 5, 7, 0.2
    g = torch.Generator().manual_seed(1)
    z = F.normalize(torch.randn(n, c + 1, generator=g, dtype=torch.float64),
                    dim=1).requires_grad_()
    labels = torch.randint(0, c, (n, ), generator=g)
    protos = torch.eye(c, c + 1, dtype=torch.float64)
    psc_loss(z, labels, protos, tau, reduction='sum').backward()
    r = z.grad
    zg = -r[:, c] / z[:, c].detach()  # z . g
    grad_z_unit = r + z.detach() * zg[:, None]
    assert grad_z_unit[:, c].abs().max() < 1e-12
    ds = grad_z_unit[:, :c] * tau  # d l / d s
    pos = ds.gather(1, labels[:, None])[:, 0]
    torch.testing.assert_close(pos, torch.full_like(pos, -1.0), atol=1e-10,
                               rtol=0)
    neg = ds.scatter(1, labels[:, None], 0.0)
    assert (neg >= 0).all()
    torch.testing.assert_close(neg.sum(1), torch.ones(n, dtype=torch.float64),
                               atol=1e-10, rtol=0)
    s = z.detach()[:, :c] / tau
    expected = torch.softmax(s.scatter(1, labels[:, None], float('-inf')), 1)
    torch.testing.assert_close(neg, expected, atol=1e-10, rtol=0)


def test_bounded_and_can_be_negative():
    protos = torch.eye(3, dtype=torch.float64)
    feats = protos.clone()  # each feature on its own prototype
    labels = torch.arange(3)
    loss = psc_loss(feats, labels, protos, 0.1, reduction='none')
    # -1/0.1 + log(2 * exp(0)) = -10 + log 2
    torch.testing.assert_close(loss, torch.full((3, ), -10 + math.log(2),
                                                dtype=torch.float64))


def test_no_positive_and_single_sample_classes_no_nan():
    feats, labels, protos = _inputs(n=4, c=6)
    labels = torch.tensor([-1, -1, -1, -1])
    f = feats.clone().requires_grad_()
    p = protos.clone().requires_grad_()
    loss = psc_loss(f, labels, p, 0.1)
    assert float(loss) == 0.0
    loss.backward()
    assert torch.isfinite(f.grad).all() and f.grad.abs().max() == 0
    assert torch.isfinite(p.grad).all() and p.grad.abs().max() == 0
    # every class appears once: still a positive (the prototype)
    labels = torch.tensor([0, 3, 5, 1])
    f.grad = None
    loss = psc_loss(f, labels, p, 0.1)
    _, ref = reference_psc(feats, labels, protos, 0.1)
    assert abs(float(loss) - float(ref)) < 1e-6
    loss.backward()
    assert torch.isfinite(f.grad).all() and (f.grad.abs().sum(1) > 0).all()


@pytest.mark.parametrize('m', [1, 2])
@pytest.mark.parametrize('exclude_positive', [True, False])
def test_gradcheck_fused_path(m, exclude_positive):
    """The fused excluded_lse / unit_normalize path (custom backwards) by
    finite differences, with ignored anchors and weights (uniform affinity:
    the softmax one is detached, so not what finite differences see)."""
    affinity = 'uniform'
    feats, labels, protos = _inputs(n=6, c=4, d=5, m=m, seed=11,
                                    ignore=(2, ))
    weight = torch.rand(6, dtype=torch.float64)
    for reduction in ('mean', 'none'):
        assert torch.autograd.gradcheck(
            lambda f, p: psc_loss(f, labels, p, 0.5, exclude_positive,
                                  affinity, weight, reduction),
            (feats.requires_grad_(), protos.requires_grad_()))


def test_fp16_inputs():
    feats, labels, protos = _inputs(n=32, c=50, d=16, seed=5)
    ref = psc_loss(feats, labels, protos, 0.05, reduction='none')
    out = psc_loss(feats.half(), labels, protos.half(), 0.05,
                   reduction='none')
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), ref, atol=2e-2, rtol=0)
    module = PSCLoss(num_classes=50, feat_dim=16, temperature=0.05)
    f = feats.half().requires_grad_()
    loss = module(f, labels)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(f.grad).all()


def test_module_registry_and_learnable_prototypes():
    loss_mod = MODELS.build(
        dict(type='PSCLoss', num_classes=5, feat_dim=8, temperature=0.1,
             loss_weight=2.0)).double()
    assert isinstance(loss_mod.prototypes, torch.nn.Parameter)
    assert loss_mod.prototypes.shape == (5, 8)
    assert torch.allclose(loss_mod.normalized_prototypes().norm(dim=1),
                          torch.ones(5, dtype=torch.float64))
    feats, labels, _ = _inputs(c=5, d=8)
    out = loss_mod(feats, labels)
    _, ref = reference_psc(feats, labels, loss_mod.prototypes.detach(), 0.1)
    assert abs(float(out) - 2.0 * float(ref)) < 1e-6
    out.backward()
    assert loss_mod.prototypes.grad.abs().sum() > 0
    none = loss_mod(feats, labels, reduction_override='none')
    assert none.shape == (14, )
    summed = loss_mod(feats, labels, reduction_override='sum')
    torch.testing.assert_close(summed, none.sum())
    w = torch.rand(14, dtype=torch.float64)
    weighted = loss_mod(feats, labels, weight=w, reduction_override='sum')
    torch.testing.assert_close(weighted, (none * w).sum())
    mpsc = PSCLoss(num_classes=5, feat_dim=8, num_prototypes=3)
    assert mpsc.prototypes.shape == (5, 3, 8)


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_classes=1), 'num_classes'),
    (dict(num_classes=5, feat_dim=0), 'feat_dim'),
    (dict(num_classes=5, temperature=0), 'temperature'),
    (dict(num_classes=5, num_prototypes=0), 'num_prototypes'),
    (dict(num_classes=5, affinity='max'), 'affinity'),
    (dict(num_classes=5, reduction='avg'), 'reduction'),
    (dict(num_classes=5, prototype_init='zeros'), 'prototype_init'),
])
def test_bad_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PSCLoss(**kwargs)


def test_bad_inputs():
    mod = PSCLoss(num_classes=5, feat_dim=8)
    with pytest.raises(ValueError, match='out of range'):
        mod(torch.randn(3, 8), torch.tensor([0, 1, 5]))
    with pytest.raises(ValueError, match='feat_dim'):
        mod(torch.randn(3, 6), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match='labels'):
        mod(torch.randn(3, 8), torch.tensor([0, 1]))
    with pytest.raises(TypeError, match='integers'):
        mod(torch.randn(3, 8), torch.tensor([0., 1., 2.]))
    with pytest.raises(ValueError, match='reduction_override'):
        mod(torch.randn(3, 8), torch.tensor([0, 1, 2]),
            reduction_override='avg')


# ---------------------------------------------------------------------------
# 2-process gloo == 1-process on the same global batch
# ---------------------------------------------------------------------------
SPLITS = (0, 7, 12)  # unequal per-rank batches: 7 and 5 anchors


def _global_batch():
    g = torch.Generator().manual_seed(11)
    x = torch.randn(12, 6, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 4, (12, ), generator=g)
    labels[[1, 2, 4]] = -1  # 3 ignored anchors, all on rank 0
    return x, labels


def _model(seed=0):
    torch.manual_seed(seed)
    proj = torch.nn.Linear(6, 8).double()
    loss = PSCLoss(num_classes=4, feat_dim=8, temperature=0.1).double()
    return proj, loss


def _dist_worker(rank, world_size):
    x, labels = _global_batch()
    lo, hi = SPLITS[rank], SPLITS[rank + 1]
    proj, loss_mod = _model()
    xr = x[lo:hi].clone().requires_grad_()
    feats = proj(xr)
    feats.retain_grad()
    loss = loss_mod(feats, labels[lo:hi])
    loss.backward()
    # what DDP does: average parameter gradients over ranks
    grads = {}
    for name, p in list(proj.named_parameters()) + [
            ('prototypes', loss_mod.prototypes)]:
        gsum = p.grad.clone()
        torch.distributed.all_reduce(gsum)
        grads[name] = gsum / world_size
    return dict(loss=loss.detach(), feat_grad=feats.grad, grads=grads)


@pytest.mark.slow
def test_two_process_equals_one_process():
    x, labels = _global_batch()
    proj, loss_mod = _model()
    feats = proj(x)
    feats.retain_grad()
    loss = loss_mod(feats, labels)
    loss.backward()
    results = run_distributed(_dist_worker, 2)
    world = 2
    # the global loss is the mean of the per-rank losses
    mean_loss = sum(r['loss'] for r in results) / world
    assert abs(float(mean_loss) - float(loss)) < 1e-10
    # DDP-averaged parameter gradients equal the 1-process gradients
    for name, p in list(proj.named_parameters()) + [
            ('prototypes', loss_mod.prototypes)]:
        for r in results:
            torch.testing.assert_close(r['grads'][name], p.grad, atol=1e-10,
                                       rtol=0)
    # feature gradients: rank r's local loss is W x its share, so its
    # feature gradient is W x the 1-process gradient of its rows
    feat_grad = torch.cat([r['feat_grad'] for r in results]) / world
    torch.testing.assert_close(feat_grad, feats.grad, atol=1e-10, rtol=0)
