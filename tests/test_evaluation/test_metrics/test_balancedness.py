"""Balancedness beta (KCL Eq. 3) against closed forms."""
import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.structures import DataSample

from ltcls.evaluation.metrics import Balancedness, balancedness
from ltcls.registry import METRICS


def reference_loop(acc, sigma):
    c = len(acc)
    return sum(
        math.exp(-abs(acc[i] - acc[j]) / sigma) for i in range(c)
        for j in range(c)) / c**2


def test_closed_form():
    # (1, .5, .5), sigma .5: 3 diagonal + 2 equal pairs = 5 ones, 4 x e^-1
    assert math.isclose(
        balancedness([1.0, 0.5, 0.5], 0.5), (5 + 4 * math.exp(-1)) / 9,
        abs_tol=1e-12)
    assert balancedness([0.3, 0.3, 0.3], 0.1) == 1.0
    # two classes at the extremes: (2 + 2 e^{-1/sigma}) / 4
    assert math.isclose(
        balancedness([0.0, 1.0], 2.0), (2 + 2 * math.exp(-0.5)) / 4,
        abs_tol=1e-12)


def test_random_against_loop():
    rng = np.random.RandomState(0)
    acc = rng.rand(13)
    for sigma in (0.05, 0.3, 1.0):
        assert math.isclose(
            balancedness(acc, sigma), reference_loop(acc, sigma), abs_tol=1e-9)


def test_metric_end_to_end():
    # class 0: 2/2 right, class 1: 1/2, class 2: 0/1
    labels = [0, 0, 1, 1, 2]
    preds = [0, 0, 1, 0, 1]
    samples = []
    for y, p in zip(labels, preds):
        score = torch.full((3, ), 0.1)
        score[p] = 0.8
        samples.append(
            DataSample().set_gt_label(y).set_pred_score(score).to_dict())
    evaluator = Evaluator(METRICS.build(dict(type='Balancedness', sigma=0.25)))
    evaluator.dataset_meta = dict(classes=('a', 'b', 'c'))
    evaluator.process(samples)
    out = evaluator.evaluate(len(samples))
    assert math.isclose(
        out['balancedness/beta'],
        reference_loop([1.0, 0.5, 0.0], 0.25),
        abs_tol=1e-9)
    assert out['balancedness/sigma'] == 0.25


def test_sigma_is_required_and_validated():
    with pytest.raises(TypeError):
        Balancedness()
    with pytest.raises(ValueError, match='sigma must be finite and > 0'):
        Balancedness(sigma=0)
    with pytest.raises(ValueError, match='fractions in \\[0, 1\\]'):
        balancedness([50.0, 20.0], 0.1)
