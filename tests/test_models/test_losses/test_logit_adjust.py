"""LogitAdjustLoss against closed forms and a per-sample Python loop."""
import math

import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses import LogitAdjustLoss, logit_adjust_loss


def reference_loop(z, y, counts, tau):
    total = sum(counts)
    prior = [n / total for n in counts]
    out = []
    for i in range(z.shape[0]):
        adj = [
            float(z[i, j]) + tau * math.log(prior[j])
            for j in range(z.shape[1])
        ]
        yi = int(y[i])
        out.append(-adj[yi] + math.log(sum(math.exp(a) for a in adj)))
    return out


def test_closed_form():
    # counts (3, 1), tau = 2, z = 0: weights pi^2 = (9/16, 1/16)
    # -> p(1) = 1/10, p(0) = 9/10
    z = torch.zeros(2, 2, dtype=torch.float64)
    loss = logit_adjust_loss(
        z,
        torch.tensor([1, 0]),
        torch.tensor([3., 1.]),
        tau=2.0,
        reduction='none')
    torch.testing.assert_close(
        loss,
        torch.tensor([math.log(10.), math.log(10 / 9)], dtype=torch.float64),
        atol=1e-12,
        rtol=0)


@pytest.mark.parametrize('tau', [0.5, 1.0, 1.5])
def test_random_against_loop(tau):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(8, 5, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 5, (8, ), generator=g)
    counts = [320, 100, 31, 10, 1]
    loss = LogitAdjustLoss(
        tau=tau, class_counts=counts, reduction='none')(z, y)
    ref = torch.tensor(reference_loop(z, y, counts, tau), dtype=torch.float64)
    torch.testing.assert_close(loss, ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(
        LogitAdjustLoss(tau=tau, class_counts=counts)(z, y, avg_factor=8),
        ref.mean(),
        atol=1e-6,
        rtol=0)


def test_tau_zero_is_cross_entropy_and_fp16():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(4, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 2])
    torch.testing.assert_close(
        LogitAdjustLoss(tau=0.0, class_counts=[9, 3, 1])(z, y),
        F.cross_entropy(z, y),
        atol=1e-12,
        rtol=0)
    loss = LogitAdjustLoss(class_counts=[9, 3, 1])(z.half(), y)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    ref = sum(reference_loop(z.half().double(), y, [9, 3, 1], 1.0)) / 4
    assert abs(float(loss) - ref) < 1e-3


def test_errors():
    with pytest.raises(ValueError, match='tau must be finite'):
        LogitAdjustLoss(tau=float('nan'))
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        LogitAdjustLoss()(torch.zeros(1, 2), torch.tensor([0]))
    with pytest.raises(ValueError, match='zero training images'):
        LogitAdjustLoss(class_counts=[0, 1])
