# Copyright (c) ltcls contributors. All rights reserved.
import math

import pytest
import torch

from ltcls.models.utils import effective_num, effective_num_weights


@pytest.mark.parametrize('beta', [0.0, 0.5, 0.9, 0.99, 0.999, 0.999999])
def test_closed_form(beta):
    counts = [500, 120, 37, 5, 1]
    e = [(1 - beta**n) / (1 - beta) for n in counts]
    got = effective_num(counts, beta)
    for g, x in zip(got.tolist(), e):
        assert abs(g - x) <= 1e-9 * max(1.0, x)
    mean = sum(e) / len(e)
    torch.testing.assert_close(
        effective_num_weights(counts, beta, 'mean'),
        torch.tensor([mean / x for x in e], dtype=torch.float64),
        atol=1e-9,
        rtol=1e-9)
    torch.testing.assert_close(
        effective_num_weights(counts, beta, 'none'),
        torch.tensor([1 / x for x in e], dtype=torch.float64),
        atol=1e-12,
        rtol=1e-9)
    s = effective_num_weights(counts, beta, 'sum')
    assert abs(s.sum().item() - len(counts)) < 1e-9


def test_limits():
    counts = torch.tensor([100, 10, 1])
    assert torch.equal(
        effective_num_weights(counts, 0.0), torch.ones(3, dtype=torch.float64))
    # beta -> 1: E_k -> n_k, so 'mean' weights -> mean(n) / n_k
    w = effective_num_weights(counts, 1 - 1e-9)
    mean = 111 / 3
    torch.testing.assert_close(
        w,
        torch.tensor([mean / 100, mean / 10, mean], dtype=torch.float64),
        rtol=1e-5,
        atol=0)
    # one-sample class: E = 1 for every beta
    assert effective_num([1], 0.999).item() == pytest.approx(1.0)
    assert math.isfinite(effective_num_weights([5000, 1], 0.999999)[1])


@pytest.mark.parametrize('bad,match', [(dict(beta=1.0), 'beta'),
                                       (dict(beta=-0.1), 'beta'),
                                       (dict(normalize='max'), 'normalize'),
                                       (dict(counts=[3, 0]), '> 0'),
                                       (dict(counts=[[1, 2]]), '1-D')])
def test_bad_args(bad, match):
    kw = dict(counts=[3, 2], beta=0.9, normalize='mean')
    kw.update(bad)
    with pytest.raises((ValueError, TypeError), match=match):
        effective_num_weights(kw['counts'], kw['beta'], kw['normalize'])
