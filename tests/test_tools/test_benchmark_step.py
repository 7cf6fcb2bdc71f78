# Copyright (c) ltcls contributors. All rights reserved.
"""tools/analysis_tools/benchmark_step.py builds and steps every method
(tiny shapes), with its loss + queue part and its key encoder."""
import os.path as osp
import sys

import pytest
import torch


@pytest.fixture(scope='module')
def bench(repo_root):
    sys.path.insert(0, osp.join(repo_root, 'tools', 'analysis_tools'))
    import benchmark_step
    yield benchmark_step
    sys.path.pop(0)


def test_every_method_is_covered(bench):
    assert set(bench.METHODS) == {
        'ce', 'bs', 'kcl', 'fcl', 'sbcl', 'sbcl-moco', 'hybrid-sc',
        'hybrid-psc', 'rescom', 'paco', 'gpaco'
    }
    assert set(bench.EXTRA_METHODS) <= set(bench.METHODS)


@pytest.mark.parametrize('method', [
    'ce', 'bs', 'kcl', 'fcl', 'sbcl', 'sbcl-moco', 'hybrid-sc', 'hybrid-psc',
    'rescom', 'paco', 'gpaco'
])
def test_step_and_parts(bench, method):
    args = bench.parse_args([
        '--depth', '18', '--img-size', '32', '--batch', '4',
        '--num-classes', '10', '--paco-queue', '16', '--moco-queue', '16',
        '--rescom-q', '2'
    ])
    made = bench.make_step(method, args)
    loss = made['step']()
    assert torch.isfinite(loss)
    assert (made['loss_queue'] is None) == (method in ('ce', 'bs'))
    if made['loss_queue'] is not None:
        made['loss_queue']()
    if method in bench.MOMENTUM:
        k = made['model'].momentum_keys(made['views'][1], update=True)
        assert k.shape == (4, 128)
