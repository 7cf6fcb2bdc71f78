"""TauNormClsHead: closed-form tau normalisation, CE checkpoint compat."""
import math

import pytest
import torch
from mmpretrain.structures import DataSample

from ltcls.models.heads import TauNormClsHead, tau_normalize
from ltcls.registry import MODELS


def test_tau_normalize_closed_form():
    w = torch.tensor([[3., 4.], [0., 2.]], dtype=torch.float64)
    torch.testing.assert_close(
        tau_normalize(w, 1.0),
        torch.tensor([[0.6, 0.8], [0., 1.]], dtype=torch.float64))
    s5, s2 = math.sqrt(5), math.sqrt(2)
    torch.testing.assert_close(
        tau_normalize(w, 0.5),
        torch.tensor([[3 / s5, 4 / s5], [0., 2 / s2]], dtype=torch.float64))
    torch.testing.assert_close(tau_normalize(w, 0.0), w)
    # all-zero rows stay zero (no NaN)
    assert torch.equal(
        tau_normalize(torch.zeros(1, 3), 1.0), torch.zeros(1, 3))


def test_predict_uses_normalised_weights_without_bias():
    head = MODELS.build(
        dict(type='TauNormClsHead', num_classes=2, in_channels=2, tau=1.0))
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[3., 4.], [0., 2.]]))
        head.fc.bias.copy_(torch.tensor([5., -5.]))
    x = torch.tensor([[1., 1.], [2., -1.]])
    # logits (1.4, 1.0) and (0.4, -1.0)
    out = head.predict((x, ), [DataSample(), DataSample()])
    expected = torch.softmax(torch.tensor([[1.4, 1.0], [0.4, -1.0]]), 1)
    torch.testing.assert_close(
        torch.stack([o.pred_score for o in out]), expected)
    # training forward is the plain linear layer (with bias)
    torch.testing.assert_close(
        head((x, )), x @ head.fc.weight.t() + head.fc.bias)
    head.set_tau(0.0)
    logits = head.tau_norm_logits((x, ))
    torch.testing.assert_close(logits, x @ head.fc.weight.t())
    with pytest.raises(ValueError, match='tau must be finite and >= 0'):
        head.set_tau(-0.1)


def test_loads_linear_head_state_dict():
    lin = MODELS.build(
        dict(type='LinearClsHead', num_classes=3, in_channels=4))
    head = TauNormClsHead(num_classes=3, in_channels=4)
    head.load_state_dict(lin.state_dict(), strict=True)
