"""LDAMLoss (+ DRW weights) against closed forms and a per-sample loop."""
import math

import numpy as np
import pytest
import torch

from ltcls.engine.hooks import effective_number_weights
from ltcls.models.losses import LDAMLoss, ldam_loss, ldam_margins
from ltcls.registry import MODELS


def reference_loop(z, y, counts, max_m=0.5, s=30.0, w=None):
    """Per-sample LDAM loss and weight, written from the paper's formula."""
    inv4 = [n**-0.25 for n in counts]
    margins = [max_m * v / max(inv4) for v in inv4]
    losses, weights = [], []
    for i in range(z.shape[0]):
        yi = int(y[i])
        row = [
            s * (float(z[i, j]) - (margins[j] if j == yi else 0.0))
            for j in range(z.shape[1])
        ]
        mx = max(row)
        lse = mx + math.log(sum(math.exp(v - mx) for v in row))
        wi = 1.0 if w is None else float(w[yi])
        losses.append(wi * (lse - row[yi]))
        weights.append(wi)
    return losses, weights


def test_margins_closed_form():
    # n^{-1/4}: 16 -> 1/2, 1 -> 1, 81 -> 1/3; scaled so the max is 0.5
    np.testing.assert_allclose(
        ldam_margins([16, 1, 81], max_m=0.5), [0.25, 0.5, 0.5 / 3],
        atol=1e-12,
        rtol=0)
    loss = LDAMLoss(class_counts=[16, 1, 81], max_m=0.5)
    np.testing.assert_allclose(
        loss.margins.numpy(), [0.25, 0.5, 0.5 / 3], atol=1e-12)


def test_loss_closed_form():
    # z = 0, counts (16, 1), y = 1: logits s*(0, -0.5) = (0, -15)
    z = torch.zeros(1, 2, dtype=torch.float64)
    loss = LDAMLoss(class_counts=[16, 1])(z, torch.tensor([1]))
    torch.testing.assert_close(
        loss,
        torch.tensor(math.log(1 + math.exp(15)), dtype=torch.float64),
        atol=1e-12,
        rtol=0)
    # y = 0: margin 0.25 -> logits (-7.5, 0)
    loss = LDAMLoss(class_counts=[16, 1])(z, torch.tensor([0]))
    torch.testing.assert_close(
        loss,
        torch.tensor(math.log(1 + math.exp(7.5)), dtype=torch.float64),
        atol=1e-12,
        rtol=0)


@pytest.mark.parametrize('max_m,s', [(0.5, 30.0), (0.3, 10.0)])
def test_random_against_loop(max_m, s):
    g = torch.Generator().manual_seed(0)
    z = torch.rand(9, 6, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.randint(0, 6, (9, ), generator=g)
    counts = [500, 180, 60, 20, 7, 1]
    loss_fn = LDAMLoss(max_m=max_m, s=s, class_counts=counts, reduction='none')
    ref, _ = reference_loop(z, y, counts, max_m, s)
    torch.testing.assert_close(
        loss_fn(z, y),
        torch.tensor(ref, dtype=torch.float64),
        atol=1e-6,
        rtol=0)
    loss_fn = LDAMLoss(max_m=max_m, s=s, class_counts=counts)
    torch.testing.assert_close(
        loss_fn(z, y, avg_factor=9),
        torch.tensor(sum(ref) / 9, dtype=torch.float64),
        atol=1e-6,
        rtol=0)


def test_class_weights_weighted_mean_like_reference():
    g = torch.Generator().manual_seed(3)
    z = torch.rand(8, 4, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.tensor([0, 0, 0, 1, 1, 2, 3, 0])
    counts = [100, 30, 5, 2]
    w = effective_number_weights(counts, 0.9999)
    loss_fn = LDAMLoss(class_counts=counts)
    loss_fn.set_class_weight(w)
    ref, ws = reference_loop(z, y, counts, w=w)
    # the head passes avg_factor = batch size; weighted_mean replaces it by
    # sum_i w_{y_i}, i.e. F.cross_entropy(weight=w) of the LDAM-DRW code
    torch.testing.assert_close(
        loss_fn(z, y, avg_factor=8),
        torch.tensor(sum(ref) / sum(ws), dtype=torch.float64),
        atol=1e-6,
        rtol=0)
    loss_fn.weighted_mean = False
    torch.testing.assert_close(
        loss_fn(z, y, avg_factor=8),
        torch.tensor(sum(ref) / 8, dtype=torch.float64),
        atol=1e-6,
        rtol=0)
    # switching the weights off restores the unweighted loss
    loss_fn.set_class_weight(None)
    ref0, _ = reference_loop(z, y, counts)
    torch.testing.assert_close(
        loss_fn(z, y),
        torch.tensor(sum(ref0) / 8, dtype=torch.float64),
        atol=1e-6,
        rtol=0)


def test_effective_number_weights_closed_form():
    # beta = 0.5, n = (1, 2): (1-b)/(1-b^n) = (1, 2/3) -> scaled to sum 2
    np.testing.assert_allclose(
        effective_number_weights([1, 2], 0.5), [1.2, 0.8], atol=1e-12, rtol=0)
    np.testing.assert_allclose(
        effective_number_weights([5, 3, 1], 0.0), [1, 1, 1], atol=1e-12)
    with pytest.raises(ValueError, match='beta must be in'):
        effective_number_weights([1, 2], 1.0)


def test_gradient_matches_closed_form():
    # d loss / d z = s * (softmax(s (z - m onehot)) - onehot) / N
    z = torch.tensor([[0.2, -0.1, 0.4]],
                     dtype=torch.float64,
                     requires_grad=True)
    counts = [16, 1, 81]
    loss = LDAMLoss(class_counts=counts, s=30.0)(z, torch.tensor([1]))
    loss.backward()
    m = torch.tensor([0.0, 0.5, 0.0], dtype=torch.float64)
    p = torch.softmax(30 * (z.detach() - m), dim=1)
    expected = 30 * (p - torch.tensor([[0., 1., 0.]], dtype=torch.float64))
    torch.testing.assert_close(z.grad, expected, atol=1e-9, rtol=0)


def test_fp16_one_sample_class_and_errors():
    loss_fn = MODELS.build(dict(type='LDAMLoss'))
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        loss_fn(torch.zeros(1, 2), torch.tensor([0]))
    loss_fn.set_class_counts([1, 1])  # one-sample classes: equal margins
    z = torch.tensor([[0.9, -0.9], [-1.0, 1.0]]).half()
    loss = loss_fn(z, torch.tensor([0, 1]))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    ref, _ = reference_loop(z.double(), torch.tensor([0, 1]), [1, 1])
    assert abs(float(loss) - sum(ref) / 2) < 1e-3
    with pytest.raises(ValueError, match='soft labels'):
        ldam_loss(torch.zeros(2, 2), torch.full((2, 2), 0.5), torch.zeros(2))
    with pytest.raises(ValueError, match='max_m must be > 0'):
        LDAMLoss(max_m=0)
    with pytest.raises(ValueError, match='class_weight has 3 entries'):
        loss_fn.set_class_weight([1., 1., 1.])
    assert 'margins' not in loss_fn.state_dict()
