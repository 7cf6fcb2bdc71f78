"""The shared argument checks of ltcls/models/losses/utils.py, through every
loss that takes a temperature: inf / nan / 0 / negative are refused by the
modules and by the functional forms; float labels (SupCon) and SBCL
subclass ids shared by two classes are clear errors."""
import math

import pytest
import torch
import torch.nn.functional as F

from ltcls.models.losses import (KCLLoss, PSCLoss, ResComLoss, SBCLLoss,
                                 SBCLQueueLoss, SupConLoss)
from ltcls.models.losses.kcl_loss import kcl_loss
from ltcls.models.losses.psc_loss import psc_loss
from ltcls.models.losses.rescom_loss import rescom_contrastive_loss
from ltcls.models.losses.sbcl_loss import sbcl_loss, sbcl_queue_loss
from ltcls.models.losses.supcon_loss import supcon_loss
from ltcls.models.losses.utils import (check_global_subclass_ids,
                                       check_int_labels, check_number)

BAD = [math.inf, -math.inf, math.nan, 0.0, -0.1]
MSG = r'must be > 0 and finite'


def feats(n=6, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64),
                       dim=1)


LABELS = torch.tensor([0, 0, 1, 1, 2, 2])


def test_check_number():
    assert check_number('X', 't', 2) == 2.0
    assert check_number(None, 't', 0, allow_zero=True) == 0.0
    with pytest.raises(ValueError, match=r'^X: t must be > 0 and finite, '
                       r'got inf$'):
        check_number('X', 't', math.inf)
    with pytest.raises(ValueError, match=r'^t must be >= 0 and finite'):
        check_number(None, 't', math.nan, allow_zero=True)
    with pytest.raises(TypeError, match='t must be a number'):
        check_number(None, 't', 'hot')


@pytest.mark.parametrize('value', BAD)
def test_modules_refuse_bad_temperatures(value):
    for build in (lambda: SupConLoss(temperature=value),
                  lambda: SupConLoss(base_temperature=value),
                  lambda: KCLLoss(temperature=value),
                  lambda: ResComLoss(temperature=value),
                  lambda: PSCLoss(num_classes=3, feat_dim=4,
                                  temperature=value),
                  lambda: SBCLLoss(tau1=value),
                  lambda: SBCLLoss(default_tau2=value),
                  lambda: SBCLQueueLoss(tau1=value),
                  lambda: SBCLQueueLoss(default_tau2=value)):
        with pytest.raises(ValueError, match=MSG):
            build()


@pytest.mark.parametrize('value', BAD)
def test_functions_refuse_bad_temperatures(value):
    x = feats()
    qk, ql = feats(8, seed=1), torch.tensor([0, 1, 2, 0, 1, 2, -1, -1])
    sub = torch.tensor([0, 0, 1, 2, 3, 3])
    calls = [
        lambda: supcon_loss(x, LABELS, temperature=value),
        lambda: kcl_loss(x, x, LABELS, qk, ql, temperature=value),
        lambda: rescom_contrastive_loss(x, LABELS, qk, ql,
                                        temperature=value),
        lambda: psc_loss(x, LABELS, feats(3, seed=2), temperature=value),
        lambda: sbcl_loss(x, LABELS, sub, tau1=value, gather=False),
        lambda: sbcl_loss(x, LABELS, sub, default_tau2=value, gather=False),
        lambda: sbcl_queue_loss(x, x, LABELS, sub, qk, ql, ql, tau1=value),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=MSG):
            call()


def test_sbcl_class_tau2_must_be_finite():
    x, sub = feats(), torch.tensor([0, 0, 1, 2, 3, 3])
    tau2 = torch.tensor([0.1, math.inf, 0.1], dtype=torch.float64)
    with pytest.raises(ValueError, match='class_tau2 must be > 0 and finite'):
        sbcl_loss(x, LABELS, sub, class_tau2=tau2, gather=False)


def test_valid_temperatures_still_give_the_same_loss():
    """The checks do not touch the values: the loss at t equals the loss
    at the same t passed as an int / float / 0-dim tensor."""
    x = feats().requires_grad_()
    a = supcon_loss(x, LABELS, temperature=1)
    b = supcon_loss(x, LABELS, temperature=1.0)
    assert torch.equal(a, b)


def test_supcon_refuses_float_labels():
    x = feats()
    with pytest.raises(TypeError, match=r'labels must be integer class ids'
                       r'.*torch.float32'):
        supcon_loss(x, LABELS.float(), temperature=0.1)
    with pytest.raises(TypeError, match='labels must be integer'):
        SupConLoss()(x.view(6, 1, 4), LABELS.float())
    with pytest.raises(TypeError, match='queue_labels must be integer'):
        supcon_loss(x, LABELS, queue_keys=feats(2, seed=3),
                    queue_labels=torch.tensor([0.0, 1.0]))


def test_check_int_labels():
    check_int_labels(None, 'labels', torch.tensor([1, 2]))
    with pytest.raises(TypeError, match='torch.bool'):
        check_int_labels('L', 'labels', torch.tensor([True]))
    with pytest.raises(TypeError, match='got list'):
        check_int_labels('L', 'labels', [1, 2])


def test_sbcl_refuses_subclass_ids_shared_by_two_classes():
    x = feats()
    sbcl_loss(x, LABELS, torch.tensor([0, 0, 1, 2, 3, 3]), gather=False)
    shared = torch.tensor([0, 0, 1, 5, 5, 3])  # id 5: classes 1 and 2
    with pytest.raises(ValueError, match=r'subclass id 5 is shared by '
                       r'classes 1 and 2'):
        sbcl_loss(x, LABELS, shared, gather=False)
    qk, ql = feats(8, seed=1), torch.tensor([0, 1, 2, 0, 1, 2, -1, -1])
    with pytest.raises(ValueError, match='subclass id 5 is shared'):
        sbcl_queue_loss(x, x, LABELS, shared, qk, ql, ql)
    with pytest.raises(ValueError, match='subclass id 5 is shared'):
        SBCLLoss()(x.view(6, 1, 4), LABELS, shared)


def test_check_global_subclass_ids_ignores_unclustered():
    # -1 (not clustered yet) may appear in several classes
    check_global_subclass_ids(torch.tensor([0, 1, 2]),
                              torch.tensor([-1, -1, 4]))
    with pytest.raises(ValueError, match='subclass id 0 is shared by classes '
                       '0 and 2'):
        check_global_subclass_ids(torch.tensor([0, 1, 2]),
                                  torch.tensor([0, 1, 0]))
