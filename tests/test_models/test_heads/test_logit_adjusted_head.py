"""LogitAdjustedClsHead: post-hoc z - tau log(prior)."""
import math

import pytest
import torch
from mmpretrain.structures import DataSample

from ltcls.registry import MODELS


def test_predict_closed_form():
    head = MODELS.build(
        dict(
            type='LogitAdjustedClsHead', num_classes=2, in_channels=2,
            tau=1.0))
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        head.predict((torch.zeros(1, 2), ))
    head.set_class_counts([3, 1])
    with torch.no_grad():
        head.fc.weight.copy_(torch.eye(2))
        head.fc.bias.zero_()
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    head.double()
    # prior (3/4, 1/4): adjusted logits (-log .75, -log .25) + x
    adj = x - torch.tensor([math.log(0.75), math.log(0.25)],
                           dtype=torch.float64)
    out = head.predict((x, ), [DataSample(), DataSample()])
    torch.testing.assert_close(
        torch.stack([o.pred_score for o in out]),
        torch.softmax(adj, 1),
        atol=1e-12,
        rtol=0)
    # the first sample moves to the rare class, the plain head says 0/1 tie
    assert [int(o.pred_label) for o in out] == [1, 1]
    # tau scales the adjustment
    head.tau = 2.0
    torch.testing.assert_close(
        head.adjusted_logits((x, )),
        x - 2 * torch.log(torch.tensor([0.75, 0.25], dtype=torch.float64)),
        atol=1e-12,
        rtol=0)


def test_counts_checked_and_not_in_checkpoint():
    head = MODELS.build(
        dict(type='LogitAdjustedClsHead', num_classes=3, in_channels=2))
    with pytest.raises(ValueError, match='has 2 entries but num_classes=3'):
        head.set_class_counts([1, 2])
    head.set_class_counts([1, 2, 3])
    assert set(head.state_dict()) == {'fc.weight', 'fc.bias'}
