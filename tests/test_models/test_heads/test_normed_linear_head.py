"""NormedLinearClsHead: cosine logits."""
import torch
import torch.nn.functional as F

from ltcls.registry import MODELS


def test_cosine_logits_closed_form():
    head = MODELS.build(
        dict(
            type='NormedLinearClsHead',
            num_classes=2,
            in_channels=2,
            loss=dict(type='LDAMLoss', class_counts=[16, 1])))
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[2., 0.], [1., 1.]]))
    x = torch.tensor([[3., 4.], [0., -5.]])
    expected = torch.tensor([[0.6, 7 / 5 / 2**0.5], [0., -1 / 2**0.5]])
    torch.testing.assert_close(head((x, )), expected)
    assert head.fc.bias is None


def test_random_and_loss():
    g = torch.Generator().manual_seed(0)
    head = MODELS.build(
        dict(
            type='NormedLinearClsHead',
            num_classes=5,
            in_channels=8,
            loss=dict(type='LDAMLoss', class_counts=[50, 20, 10, 5, 1])))
    x = torch.randn(4, 8, generator=g, dtype=torch.float64)
    head.double()
    w = head.fc.weight
    ref = torch.stack([
        torch.stack([
            torch.dot(x[i], w[j]) / x[i].norm() / w[j].norm() for j in range(5)
        ]) for i in range(4)
    ])
    torch.testing.assert_close(head((x, )), ref, atol=1e-12, rtol=0)
    assert (head((x, )).abs() <= 1 + 1e-12).all()
    from mmpretrain.structures import DataSample
    samples = [DataSample().set_gt_label(i) for i in (0, 1, 4, 4)]
    loss = head.loss((x, ), samples)['loss']
    # LDAM on the cosines: margins 0.5 * (n_j / n_min)^{-1/4}
    y = torch.tensor([0, 1, 4, 4])
    m = 0.5 * torch.tensor([50., 20., 10., 5., 1.], dtype=torch.float64)**-0.25
    z = head((x, )).detach() - F.one_hot(y, 5) * m[y][:, None]
    torch.testing.assert_close(
        loss, F.cross_entropy(30 * z, y), atol=1e-9, rtol=0)


def test_scale_multiplies_the_cosines_and_is_validated():
    import pytest
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 6, generator=g, dtype=torch.float64)
    head = MODELS.build(
        dict(type='NormedLinearClsHead', num_classes=4, in_channels=6,
             scale=30)).double()
    w = head.fc.weight
    ref = 30 * torch.stack([
        torch.stack([
            torch.dot(x[i], w[j]) / x[i].norm() / w[j].norm() for j in range(4)
        ]) for i in range(3)
    ])
    torch.testing.assert_close(head((x, )), ref, atol=1e-10, rtol=0)
    for bad in (0, -1.0, True, 'a'):
        with pytest.raises(ValueError, match='scale'):
            MODELS.build(
                dict(type='NormedLinearClsHead', num_classes=4,
                     in_channels=6, scale=bad))
