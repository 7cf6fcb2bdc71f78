# Copyright (c) ltcls contributors. All rights reserved.
"""block_lse: the owned-buffer log-sum-exp of a (A, d) x (L, d) block."""
import pytest
import torch

from ltcls.models.losses.contrast_blocks import memory_block_lse
from ltcls.models.losses.multi_positive_nce import block_lse


def _ref(z, keys, col):
    """Per-anchor loop, plain autograd."""
    return torch.stack([
        torch.logsumexp(keys @ z[i] + col, dim=0) for i in range(z.shape[0])
    ])


def _inputs(a=7, l=23, d=5, seed=0, grad=(True, True, True)):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(a, d, generator=g, dtype=torch.float64) * 3
    keys = torch.randn(l, d, generator=g, dtype=torch.float64)
    col = torch.randn(l, generator=g, dtype=torch.float64)
    col[::4] = float('-inf')
    return [t.requires_grad_(r) for t, r in zip((z, keys, col), grad)]


def _grads(fn, z, keys, col, weight):
    out = fn(z, keys, col)
    ins = [t for t in (z, keys, col) if t.requires_grad]
    gs = torch.autograd.grad((out * weight).sum(), ins)
    return out.detach(), gs


@pytest.mark.parametrize('grad', [(True, True, True), (True, False, False),
                                  (False, True, False), (False, False, True)])
def test_block_lse_matches_loop(grad):
    z, keys, col = _inputs(grad=grad)
    w = torch.randn(z.shape[0], dtype=torch.float64)
    out, gs = _grads(block_lse, z, keys, col, w)
    ref, gr = _grads(_ref, z, keys, col, w)
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-10)
    for a, b in zip(gs, gr):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-10)


def test_block_lse_gradcheck_and_none_grads():
    z, keys, col = _inputs(a=3, l=6, d=2)
    assert torch.autograd.gradcheck(block_lse, (z, keys, col))
    z2 = z.detach().requires_grad_()
    block_lse(z2, keys.detach(), col.detach()).sum().backward()
    assert z2.grad is not None
    k2 = keys.detach().requires_grad_()
    block_lse(z.detach(), k2).sum().backward()  # col None: zero bias
    assert k2.grad is not None
    out = block_lse(z.detach(), keys.detach(), col.detach())
    assert not out.requires_grad


def test_block_lse_default_col_and_dtype():
    z, keys, _ = _inputs(grad=(False, False, False))
    ref = torch.logsumexp(z @ keys.t(), dim=1)
    torch.testing.assert_close(block_lse(z, keys), ref, rtol=1e-12, atol=0)
    out = block_lse(z.float(), keys.float())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)


def test_block_lse_double_backward_refused():
    z, keys, col = _inputs()
    out = block_lse(z, keys, col).sum()
    (gz, ) = torch.autograd.grad(out, z, create_graph=True)
    with pytest.raises(RuntimeError):
        gz.sum().backward()


def test_block_lse_retain_graph_twice():
    """The backward does not modify the saved buffer."""
    z, keys, col = _inputs()
    out = block_lse(z, keys, col).sum()
    (g1, ) = torch.autograd.grad(out, z, retain_graph=True)
    (g2, ) = torch.autograd.grad(out, z)
    torch.testing.assert_close(g1, g2, rtol=0, atol=0)


def test_block_lse_non_finite_propagates():
    z, keys, col = _inputs(grad=(False, False, False))
    z[1, 0] = float('nan')
    z[2] = float('inf')
    col[5] = float('inf')
    z.requires_grad_()
    out = block_lse(z, keys, col)
    ref = torch.logsumexp(z.detach() @ keys.t() + col, dim=1)
    assert torch.equal(out.detach().isnan(), ref.isnan())
    assert torch.equal(out.detach().isinf(), ref.isinf())
    assert not out.isfinite().any()
    out.sum().backward()
    assert not z.grad.isfinite().all()


def test_block_lse_all_masked_row():
    z, keys, col = _inputs(grad=(False, False, False))
    col.fill_(float('-inf'))
    out = block_lse(z, keys, col)
    assert torch.isneginf(out).all()


def test_memory_block_lse_empty_queue_zero_grad():
    z, keys, _ = _inputs(grad=(True, False, False))
    filled = torch.zeros(keys.shape[0], dtype=torch.bool)
    out = memory_block_lse(z, keys, filled)
    assert torch.isneginf(out).all()
    out.sum().backward()
    assert torch.equal(z.grad, torch.zeros_like(z))
    z.grad = None
    filled[3:9] = True
    w = torch.randn(z.shape[0], dtype=torch.float64)
    (memory_block_lse(z, keys, filled) * w).sum().backward()
    ref_z = z.detach().requires_grad_()
    col = torch.where(filled, 0.0, float('-inf')).double()
    (_ref(ref_z, keys, col) * w).sum().backward()
    torch.testing.assert_close(z.grad, ref_z.grad, rtol=1e-6, atol=1e-10)
