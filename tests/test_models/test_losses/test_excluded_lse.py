# Copyright (c) ltcls contributors. All rights reserved.
"""excluded_lse and unit_normalize (multi_positive_nce) against independent
references: per-row loops of scalar torch ops and F.normalize."""
import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses.multi_positive_nce import (excluded_lse,
                                                    unit_normalize)


def reference_excluded_lse(q, k, cols, scale, exclude):
    """Per-row loop: logsumexp over the kept columns of scale * q_i . k_j,
    and the picked columns (autograd gives the reference gradient)."""
    lse, picked = [], []
    for i in range(q.shape[0]):
        s = (k * q[i]).sum(dim=1) * scale  # (K,)
        drop = set(cols[i].tolist()) if (exclude is not None
                                         and bool(exclude[i])) else set()
        keep = [j for j in range(k.shape[0]) if j not in drop]
        lse.append(torch.logsumexp(s[keep], dim=0))
        picked.append(torch.stack([s[int(j)] for j in cols[i]]))
    return torch.stack(lse), torch.stack(picked)


def _inputs(n=9, k=7, d=5, e=2, seed=0, grad=True):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, d, generator=g, dtype=torch.float64)
    keys = torch.randn(k, d, generator=g, dtype=torch.float64)
    cols = torch.stack([torch.randperm(k, generator=g)[:e] for _ in range(n)])
    exclude = torch.rand(n, generator=g) < 0.6
    return (q.requires_grad_(grad), keys.requires_grad_(grad), cols, exclude)


def _grads(fn, q, k, cols, scale, exclude, seed=1):
    g = torch.Generator().manual_seed(seed)
    lse, picked = fn(q, k, cols, scale, exclude)
    w_lse = torch.randn(lse.shape, generator=g, dtype=lse.dtype)
    w_pick = torch.randn(picked.shape, generator=g, dtype=lse.dtype)
    q.grad = k.grad = None
    ((lse * w_lse).sum() + (picked * w_pick).sum()).backward()
    return lse.detach(), picked.detach(), q.grad.clone(), k.grad.clone()


@pytest.mark.parametrize('e', [1, 3])
@pytest.mark.parametrize('scale', [1.0, 10.0, 0.5])
@pytest.mark.parametrize('mode', ['mixed', 'all', 'none', 'noexclude'])
def test_matches_reference_values_and_grads(e, scale, mode):
    q, k, cols, exclude = _inputs(e=e, seed=e)
    if mode == 'all':
        exclude = torch.ones_like(exclude)
    elif mode == 'none':
        exclude = torch.zeros_like(exclude)
    elif mode == 'noexclude':
        exclude = None
    got = _grads(excluded_lse, q, k, cols, scale, exclude)
    ref = _grads(reference_excluded_lse, q, k, cols, scale, exclude)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-10)


def test_gradcheck():
    q, k, cols, exclude = _inputs(n=5, k=6, d=4, e=2)
    assert torch.autograd.gradcheck(
        lambda a, b: excluded_lse(a, b, cols, 3.0, exclude), (q, k))
    assert torch.autograd.gradcheck(
        lambda a, b: excluded_lse(a, b, cols, 0.7, None), (q, k))
    # gradient to the log-sum-exp alone (picked columns unused)
    assert torch.autograd.gradcheck(
        lambda a, b: excluded_lse(a, b, cols, 2.0, exclude)[0], (q, k))


def test_requires_grad_false_and_float32():
    q, k, cols, exclude = _inputs()
    k = k.detach()
    lse, picked = excluded_lse(q, k, cols, 2.0, exclude)
    (lse.sum() + picked.sum()).backward()
    assert k.grad is None and q.grad is not None
    ref_lse, ref_picked = reference_excluded_lse(q, k, cols, 2.0, exclude)
    torch.testing.assert_close(lse, ref_lse)
    # no input needs a gradient: plain tensors out
    lse, _ = excluded_lse(q.detach(), k, cols, 2.0, exclude)
    assert not lse.requires_grad
    # float32 stays float32 and matches the float64 result
    lse32, picked32 = excluded_lse(q.detach().float(), k.float(), cols, 2.0,
                                   exclude)
    assert lse32.dtype == torch.float32
    torch.testing.assert_close(
        lse32.double(), ref_lse.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        picked32.double(), ref_picked.detach(), rtol=1e-5, atol=1e-5)


def test_double_backward_refused_and_retain_graph():
    q, k, cols, exclude = _inputs()
    lse, _ = excluded_lse(q, k, cols, 2.0, exclude)
    (gq, ) = torch.autograd.grad(
        lse, q, torch.ones_like(lse, requires_grad=True), create_graph=True)
    with pytest.raises(RuntimeError, match='once_differentiable'):
        gq.sum().backward()
    # a second backward (retain_graph) recomputes the consumed buffer
    lse, picked = excluded_lse(q, k, cols, 2.0, exclude)
    out = lse.sum() + 2 * picked.sum()
    out.backward(retain_graph=True)
    first = q.grad.clone(), k.grad.clone()
    out.backward()
    torch.testing.assert_close(q.grad, 2 * first[0], rtol=1e-12, atol=0)
    torch.testing.assert_close(k.grad, 2 * first[1], rtol=1e-12, atol=0)


def test_non_finite_logits_propagate():
    q, k, cols, exclude = _inputs(grad=False)
    exclude = torch.ones_like(exclude)
    q[0, 0] = float('nan')  # every logit of row 0 is NaN
    k[cols[1, 0]] = float('inf')  # +inf only in columns ...
    lse, _ = excluded_lse(q, k, cols, 1.0, exclude)
    assert torch.isnan(lse[0])
    # ... that row 1 excludes: its lse stays finite and equals the loop
    ref, _ = reference_excluded_lse(q, k, cols, 1.0, exclude)
    torch.testing.assert_close(lse[1], ref[1])
    assert torch.isfinite(lse[1])
    # a row that keeps an inf column (not excluded, positive product) is
    # not finite; as torch.logsumexp
    rows = ~(cols == cols[1, 0]).any(dim=1)
    rows[0] = False
    assert torch.equal(torch.isfinite(lse[rows]), torch.isfinite(ref[rows]))
    assert not torch.isfinite(lse[rows]).all()


def test_bad_shapes():
    q, k, cols, exclude = _inputs()
    with pytest.raises(ValueError, match='q \\(N, D\\)'):
        excluded_lse(q, k[:, :3], cols)
    with pytest.raises(ValueError, match='cols must be'):
        excluded_lse(q, k, cols[:3])


@pytest.mark.parametrize('shape', [(6, 5), (4, 3, 5), (1, 7)])
def test_unit_normalize_matches_f_normalize(shape):
    g = torch.Generator().manual_seed(len(shape))
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    x.view(-1, shape[-1])[0] = 0.  # zero row: output 0, gradient g / eps
    if x.numel() // shape[-1] > 2:
        x.view(-1, shape[-1])[1] *= 1e-14  # norm below eps (clamped)
    w = torch.randn(shape, generator=g, dtype=torch.float64)
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    ya, yb = unit_normalize(a), F.normalize(b, dim=-1)
    (ya * w).sum().backward()
    (yb * w).sum().backward()
    torch.testing.assert_close(ya, yb, rtol=1e-12, atol=0)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=0)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(unit_normalize, (x.requires_grad_(), ))
    y32 = unit_normalize(x.detach().float())
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32, F.normalize(x.detach().float(), dim=-1))
    with pytest.raises(RuntimeError, match='once_differentiable'):
        y = unit_normalize(x)
        (gx, ) = torch.autograd.grad(
            y, x, torch.ones_like(y, requires_grad=True), create_graph=True)
        gx.sum().backward()
