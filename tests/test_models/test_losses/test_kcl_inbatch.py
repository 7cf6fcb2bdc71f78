# Copyright (c) ltcls contributors. All rights reserved.
"""KCL in-batch mode (``SupConLoss(pos_k=k)``, spec_kcl.md §9 item 1)
against an independent per-anchor loop; 2 processes == 1 process."""
import math

import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses import SupConLoss, supcon_loss
from ltcls.models.losses.kcl_loss import _hash_keys
from ltcls.registry import MODELS
from ltcls.testing import run_distributed

SEED, STEP = 3, 11


def ref_select(i, cands, k, selection, mask_len):
    """KCL's selection rule for one anchor, written independently of
    ``select_positives``. ``cands``: the column indices of its same-class
    candidates; ``mask_len``: the number of columns of its row."""
    if k is None:
        return list(cands)
    if selection == 'topk':  # the official code: topk on the 0/1 row
        row = torch.zeros(mask_len)
        row[list(cands)] = 1.0
        if min(k, mask_len) == 0:
            return []
        idx = row.topk(min(k, mask_len)).indices.tolist()
        return [j for j in idx if j in cands]
    # 'random': the k same-class columns with the smallest hash keys of
    # (seed, step, global anchor index, column)
    keys = {
        j:
        int(_hash_keys(SEED, STEP, torch.tensor([i]), torch.tensor([j]))[0])
        for j in cands
    }
    return sorted(cands, key=lambda j: keys[j])[:k]


def ref_inbatch_kcl(z, y, k, selection, variant, t, qk=None, ql=None):
    """Per-anchor loop over the whole (canonical, view-major) batch ``z``
    (M, d): candidates = every other row + every filled queue slot,
    positives = at most k same-class candidates, loss = mean of -log
    softmax over the candidates at the positives; v2 sets the logit of
    unselected same-class candidates to 0. Returns (per-anchor loss,
    has_pos, num_selected, mean over anchors with positives)."""
    m = z.shape[0]
    cols = [(z[j], int(y[j])) for j in range(m)]
    if qk is not None:
        cols += [(qk[j], int(ql[j])) for j in range(len(qk))]
    losses, has, nums = [], [], []
    for i in range(m):
        cand = [
            j for j in range(len(cols))
            if j != i and (j < m or int(ql[j - m]) >= 0)
        ]
        same = [j for j in cand if cols[j][1] == int(y[i])]
        sel = ref_select(i, same, k, selection, len(cols))
        logit = {}
        for j in cand:
            if variant == 'v2' and k is not None and j in same and \
                    j not in sel:
                logit[j] = z[i].sum() * 0
            else:
                logit[j] = torch.dot(z[i], cols[j][0]) / t
        nums.append(len(sel))
        if not sel:
            losses.append(z[i].sum() * 0)
            has.append(False)
            continue
        denom = torch.log(sum(torch.exp(v) for v in logit.values()))
        losses.append(-sum(logit[j] - denom for j in sel) / len(sel))
        has.append(True)
    losses = torch.stack(losses)
    has = torch.tensor(has)
    mean = losses[has].sum() / has.sum() if has.any() else losses.sum() * 0
    return losses, has, torch.tensor(nums), mean


def _case(seed, n=9, views=2, d=5, num_classes=3):
    g = torch.Generator().manual_seed(seed)
    feats = F.normalize(
        torch.randn(n, views, d, generator=g, dtype=torch.float64), dim=-1)
    labels = torch.randint(0, num_classes, (n, ), generator=g)
    labels[0] = num_classes + 4  # a class with one sample
    labels[1:5] = 1  # a class with more samples than small k
    return feats, labels


def _loss(feats, labels, k, selection, variant, t=0.2, qk=None, ql=None):
    return supcon_loss(
        feats,
        labels,
        qk,
        ql,
        temperature=t,
        pos_k=k,
        pos_selection=selection,
        variant=variant,
        seed=SEED,
        step=STEP,
        return_num_selected=True)


@pytest.mark.parametrize('variant', ['v1', 'v2'])
@pytest.mark.parametrize('selection', ['random', 'topk'])
@pytest.mark.parametrize('pos_k', [0, 1, 2, 3, 100])
@pytest.mark.parametrize('views', [1, 2])
def test_matches_reference(views, pos_k, selection, variant):
    feats, labels = _case(0, views=views)
    x = feats.clone().requires_grad_(True)
    loss, num = _loss(x, labels, pos_k, selection, variant)
    flat = x.transpose(0, 1).reshape(-1, x.shape[-1])  # view-major
    xr = feats.clone().requires_grad_(True)
    ref_per, ref_has, ref_num, ref = ref_inbatch_kcl(
        xr.transpose(0, 1).reshape(-1, x.shape[-1]), labels.repeat(views),
        pos_k, selection, variant, 0.2)
    assert flat.shape[0] == len(ref_per)
    assert torch.equal(num, ref_num)
    # min(k, P_i): P_i = same-class views of the global batch, self excluded
    y = labels.repeat(views)
    avail = (y[:, None] == y[None, :]).sum(1) - 1
    assert torch.equal(num, avail.clamp(max=pos_k))
    if views == 1:
        assert not ref_has[0]  # the single-sample class: no positive
    else:
        assert ref_has[0] == (pos_k > 0)  # only its other view
    torch.testing.assert_close(loss, ref, rtol=0, atol=1e-6)
    assert torch.isfinite(loss)
    loss.backward()
    ref.backward()
    torch.testing.assert_close(x.grad, xr.grad, rtol=0, atol=1e-6)
    assert torch.isfinite(x.grad).all()
    if pos_k == 0:
        assert float(loss.detach()) == 0.0
        assert torch.equal(x.grad, torch.zeros_like(x.grad))


@pytest.mark.parametrize('selection', ['random', 'topk'])
def test_with_queue_matches_reference(selection):
    feats, labels = _case(1)
    g = torch.Generator().manual_seed(2)
    qk = F.normalize(torch.randn(7, 5, generator=g, dtype=torch.float64), 1)
    ql = torch.tensor([1, -1, 0, 7, 2, -1, 1])
    x = feats.clone().requires_grad_(True)
    loss, _ = _loss(x, labels, 2, selection, 'v1', qk=qk, ql=ql)
    xr = feats.clone().requires_grad_(True)
    *_, ref = ref_inbatch_kcl(
        xr.transpose(0, 1).reshape(-1, 5), labels.repeat(2), 2, selection,
        'v1', 0.2, qk, ql)
    torch.testing.assert_close(loss, ref, rtol=0, atol=1e-6)
    loss.backward()
    ref.backward()
    torch.testing.assert_close(x.grad, xr.grad, rtol=0, atol=1e-6)


def test_k_at_least_positives_is_supcon():
    feats, labels = _case(2)
    full = supcon_loss(feats, labels, temperature=0.2)
    for selection in ('random', 'topk'):
        for variant in ('v1', 'v2'):
            capped, _ = _loss(feats, labels, 100, selection, variant)
            torch.testing.assert_close(capped, full, rtol=0, atol=1e-12)
    # k below the available positives changes the loss
    small, _ = _loss(feats, labels, 1, 'random', 'v1')
    assert abs(float(small) - float(full)) > 1e-6


def test_step_and_seed_change_the_draw_deterministically():
    feats, labels = _case(3, n=12, num_classes=2)
    kw = dict(temperature=0.2, pos_k=2)
    a = supcon_loss(feats, labels, step=1, **kw)
    assert float(a) == float(supcon_loss(feats, labels, step=1, **kw))
    assert float(a) != float(supcon_loss(feats, labels, step=2, **kw))
    assert float(a) != float(supcon_loss(feats, labels, step=1, seed=5, **kw))


def test_module_and_args():
    feats, labels = _case(4)
    module = MODELS.build(
        dict(
            type='SupConLoss',
            temperature=0.2,
            pos_k=2,
            pos_selection='topk',
            variant='v2',
            seed=SEED,
            loss_weight=0.5))
    assert 'pos_k=2' in repr(module)
    got, num = module(feats, labels, step=STEP, return_num_selected=True)
    plain, plain_num = _loss(feats, labels, 2, 'topk', 'v2')
    torch.testing.assert_close(got, 0.5 * plain, rtol=0, atol=1e-12)
    assert torch.equal(num, plain_num)
    with pytest.raises(ValueError, match='pos_k'):
        SupConLoss(pos_k=-1)
    with pytest.raises(ValueError, match='pos_k'):
        SupConLoss(pos_k=2.0)
    with pytest.raises(ValueError, match='pos_selection'):
        SupConLoss(pos_k=2, pos_selection='first')
    with pytest.raises(ValueError, match='variant'):
        SupConLoss(pos_k=2, variant='v3')


# --- 2 processes == 1 process on the same global batch -------------------
SPLIT = (5, 3)
MODES = [(sel, var, q) for sel in ('random', 'topk') for var in ('v1', 'v2')
         for q in (False, True)]


def _global_batch():
    g = torch.Generator().manual_seed(21)
    feats = F.normalize(
        torch.randn(sum(SPLIT), 2, 4, generator=g, dtype=torch.float64), -1)
    labels = torch.randint(0, 2, (sum(SPLIT), ), generator=g)
    labels[6] = 9  # a class with one sample, on rank 1
    qk = F.normalize(torch.randn(5, 4, generator=g, dtype=torch.float64), 1)
    ql = torch.tensor([0, -1, 1, 9, -1])
    return feats, labels, qk, ql


def _run(feats, labels, qk, ql, selection, variant, queue):
    if not queue:
        qk = ql = None
    return _loss(feats, labels, 2, selection, variant, qk=qk, ql=ql)


def _dist_inbatch(rank, world_size):
    feats, labels, qk, ql = _global_batch()
    start = sum(SPLIT[:rank])
    sl = slice(start, start + SPLIT[rank])
    out = {}
    for mode in MODES:
        x = feats[sl].clone().requires_grad_(True)
        loss, num = _run(x, labels[sl], qk, ql, *mode)
        loss.backward()
        out['/'.join(map(str, mode))] = dict(
            loss=loss.detach(), grad=x.grad, num=num)
    return out


def test_two_process_equals_single_process():
    feats, labels, qk, ql = _global_batch()
    res = run_distributed(_dist_inbatch, 2)
    for mode in MODES:
        key = '/'.join(map(str, mode))
        x = feats.clone().requires_grad_(True)
        single, num = _run(x, labels, qk, ql, *mode)
        single.backward()
        mean = (res[0][key]['loss'] + res[1][key]['loss']) / 2
        torch.testing.assert_close(
            mean, single.detach(), rtol=0, atol=1e-10, msg=key)
        # per-rank feature gradients (before DDP's 1/W) are W x the global
        grad = torch.cat([res[0][key]['grad'], res[1][key]['grad']]) / 2
        torch.testing.assert_close(grad, x.grad, rtol=0, atol=1e-10, msg=key)
        # the same positives: num_selected per anchor, back in view-major
        # order of the global batch
        n0 = SPLIT[0]
        per_rank = [r[key]['num'].view(2, -1) for r in res]
        assert torch.equal(torch.cat(per_rank, dim=1).reshape(-1), num), key
        assert per_rank[0].shape[1] == n0
        assert math.isfinite(float(single.detach()))
