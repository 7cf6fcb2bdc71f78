"""BalancedSoftmaxLoss against closed forms and a per-sample Python loop."""
import math

import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses import (BalancedSoftmaxLoss, balanced_softmax_loss,
                                 logit_adjust_loss)
from ltcls.registry import MODELS


def reference_loop(z, y, counts):
    """-log(n_y e^{z_y} / sum_j n_j e^{z_j}) per sample, plain Python."""
    out = []
    for i in range(z.shape[0]):
        row = [float(v) for v in z[i]]
        den = sum(counts[j] * math.exp(row[j]) for j in range(len(row)))
        yi = int(y[i])
        out.append(-math.log(counts[yi] * math.exp(row[yi]) / den))
    return out


def test_closed_form_two_classes():
    # z = 0: p(y) = n_y / sum n  ->  loss = log(sum n / n_y)
    z = torch.zeros(2, 2, dtype=torch.float64)
    y = torch.tensor([0, 1])
    loss = balanced_softmax_loss(
        z, y, torch.tensor([3., 1.]), reduction='none')
    torch.testing.assert_close(
        loss,
        torch.tensor([math.log(4 / 3), math.log(4.)], dtype=torch.float64),
        atol=1e-12,
        rtol=0)
    # gradient of the mean: (softmax(z + log n) - onehot) / N
    z.requires_grad_(True)
    balanced_softmax_loss(z, y, torch.tensor([3., 1.])).backward()
    p = torch.tensor([0.75, 0.25], dtype=torch.float64)
    expected = (torch.stack([p, p]) - F.one_hot(y, 2).double()) / 2
    torch.testing.assert_close(z.grad, expected, atol=1e-12, rtol=0)


def test_random_against_loop():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(7, 5, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, 5, (7, ), generator=g)
    counts = [50, 20, 7, 3, 1]
    loss = BalancedSoftmaxLoss(class_counts=counts, reduction='none')(z, y)
    ref = torch.tensor(reference_loop(z, y, counts), dtype=torch.float64)
    torch.testing.assert_close(loss, ref, atol=1e-6, rtol=0)
    mean = BalancedSoftmaxLoss(class_counts=counts)(z, y, avg_factor=7)
    torch.testing.assert_close(mean, ref.mean(), atol=1e-6, rtol=0)
    # sample weights, sum, loss_weight
    w = torch.rand(7, generator=g, dtype=torch.float64)
    loss_fn = BalancedSoftmaxLoss(class_counts=counts, loss_weight=2.0)
    torch.testing.assert_close(
        loss_fn(z, y, weight=w, reduction_override='sum'),
        2.0 * (ref * w).sum(),
        atol=1e-6,
        rtol=0)
    torch.testing.assert_close(
        loss_fn(z, y, weight=w, avg_factor=3.5),
        2.0 * (ref * w).sum() / 3.5,
        atol=1e-6,
        rtol=0)


def test_equals_logit_adjustment_tau_one_and_ce_when_balanced():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(6, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (6, ), generator=g)
    counts = torch.tensor([40., 9., 4., 1.])
    torch.testing.assert_close(
        balanced_softmax_loss(z, y, counts),
        logit_adjust_loss(z, y, counts, tau=1.0),
        atol=1e-12,
        rtol=0)
    torch.testing.assert_close(
        balanced_softmax_loss(z, y, torch.full((4, ), 7.)),
        F.cross_entropy(z, y),
        atol=1e-12,
        rtol=0)


def test_soft_labels():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(3, 4, generator=g, dtype=torch.float64)
    counts = [8, 4, 2, 1]
    y_soft = torch.tensor(
        [[0.5, 0.5, 0, 0], [0, 0, 1, 0], [0.1, 0.2, 0.3, 0.4]],
        dtype=torch.float64)
    loss = balanced_softmax_loss(
        z, y_soft, torch.tensor(counts, dtype=float), reduction='none')
    ref = []
    for i in range(3):
        per_class = [
            reference_loop(z[i:i + 1], torch.tensor([c]), counts)[0]
            for c in range(4)
        ]
        ref.append(sum(float(y_soft[i, c]) * per_class[c] for c in range(4)))
    torch.testing.assert_close(
        loss, torch.tensor(ref, dtype=torch.float64), atol=1e-6, rtol=0)


def test_fp16_and_extreme_logits_no_nan():
    z = torch.tensor([[30., -30., 0.], [-60., 60., 1.]]).half()
    y = torch.tensor([2, 0])
    counts = [1000, 10, 1]
    loss = BalancedSoftmaxLoss(class_counts=counts, reduction='none')(z, y)
    assert loss.dtype == torch.float32 and torch.isfinite(loss).all()
    ref = torch.tensor(
        reference_loop(z.double(), y, counts), dtype=torch.float64)
    torch.testing.assert_close(loss.double(), ref, atol=1e-3, rtol=1e-4)


def test_one_sample_class_and_build_from_registry():
    loss_fn = MODELS.build(dict(type='BalancedSoftmaxLoss'))
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        loss_fn(torch.zeros(1, 2), torch.tensor([0]))
    loss_fn.set_class_counts([1, 1])
    assert loss_fn.num_classes == 2
    torch.testing.assert_close(
        loss_fn(torch.zeros(1, 2), torch.tensor([1])),
        torch.tensor(math.log(2.)))
    # counts are not saved into checkpoints (re-derived from the train set)
    assert 'class_counts' not in loss_fn.state_dict()


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match='zero training images: \\[1\\]'):
        BalancedSoftmaxLoss(class_counts=[3, 0, 2])
    with pytest.raises(ValueError, match='num_classes=4'):
        BalancedSoftmaxLoss(class_counts=[3, 1, 2], num_classes=4)
    with pytest.raises(ValueError, match='reduction must be one of'):
        BalancedSoftmaxLoss(reduction='avg')
    loss_fn = BalancedSoftmaxLoss(class_counts=[3, 1, 2])
    with pytest.raises(ValueError, match='scores have 4 classes'):
        loss_fn(torch.zeros(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='labels must be in \\[0, 3\\)'):
        loss_fn(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match='avg_factor can not be used'):
        loss_fn(
            torch.zeros(2, 3),
            torch.tensor([0, 1]),
            avg_factor=2,
            reduction_override='sum')


def test_in_linear_head():
    head = MODELS.build(
        dict(
            type='LinearClsHead',
            num_classes=3,
            in_channels=4,
            loss=dict(type='BalancedSoftmaxLoss', class_counts=[5, 2, 1])))
    from mmpretrain.structures import DataSample
    feats = (torch.randn(2, 4), )
    samples = [DataSample().set_gt_label(0), DataSample().set_gt_label(2)]
    losses = head.loss(feats, samples)
    logits = head(feats).detach().double()
    ref = torch.tensor(
        reference_loop(logits, torch.tensor([0, 2]), [5, 2, 1]),
        dtype=torch.float64).mean()
    torch.testing.assert_close(losses['loss'].double(), ref, atol=1e-5, rtol=0)
