# Copyright (c) ltcls contributors. All rights reserved.
"""tools/analysis_tools/benchmark_losses.py: every PyTorch reference equals
the ltcls loss (float64, values and input gradients), and one tiny timed
run with a baseline source tree."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest


@pytest.fixture(scope='module')
def bench(repo_root):
    sys.path.insert(0, osp.join(repo_root, 'tools', 'analysis_tools'))
    import benchmark_losses
    yield benchmark_losses
    sys.path.pop(0)


def test_every_loss_has_a_reference_and_a_shape(bench):
    assert set(bench.ENTRIES) == set(bench.SHAPES) == set(bench.CHECK_SHAPES)
    for name in ('supcon', 'kcl', 'fcl', 'psc', 'paco', 'gpaco', 'gpaco-queue',
                 'multitask', 'rescom', 'sbcl', 'sbcl-moco'):
        assert name in bench.ENTRIES


@pytest.mark.parametrize('name', [
    'supcon', 'kcl', 'fcl', 'psc', 'paco', 'gpaco', 'gpaco-queue', 'multitask',
    'rescom', 'sbcl', 'sbcl-moco'
])
def test_reference_equals_ltcls_float64(bench, name):
    # ltcls vs the dense reference (and the per-anchor loop where there is
    # one): loss and the gradient of every input leaf
    diffs = bench.check([name])
    assert diffs[name] < 1e-12


def test_tiny_run_with_baseline(tmp_path, repo_root):
    out = tmp_path / 'rows.json'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable, 'tools/analysis_tools/benchmark_losses.py', '--losses',
        'rescom', '--scale', '0.01', '--repeat', '2', '--threads', '1',
        '--baseline-src', repo_root, '--json',
        str(out)
    ],
                          cwd=repo_root,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '| rescom |' in proc.stdout and 'ltcls/base time' in proc.stdout
    (row, ) = json.loads(out.read_text())
    assert set(row['times']) == {'ltcls', 'ref', 'base'}
    assert all(t > 0 for t in row['times'].values())
    assert all(m >= 0 for m in row['memory'].values())
