"""A diverging real training run (PaCo on DigitsLT with lr=1e5, which logs
``loss: nan`` within the first epoch) stops with an error naming the
iteration and the loss terms, and leaves only finite checkpoints: with
``max_keep_ckpts=1`` (the config's) the last good one survives."""
import glob
import os.path as osp
import sys

import pytest
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _train_subprocess import train  # noqa: E402

PACO = 'configs/paco/paco_resnet32_1xb32-coslr-40e_digits-lt-if50.py'


@pytest.mark.slow
def test_diverging_paco_run_stops_cleanly(repo_root, tmp_path):
    proc = train(repo_root, PACO, tmp_path, [
        'optim_wrapper.optimizer.lr=100000.0', 'train_cfg.max_epochs=2',
        'train_cfg.val_interval=100', 'randomness.seed=0',
        'default_hooks.checkpoint.by_epoch=False',
        'default_hooks.checkpoint.interval=3', 'log_level=WARNING'
    ])
    assert proc.returncode != 0
    err = proc.stderr
    assert 'NonFiniteLossError: training diverged at iteration' in err, \
        err[-3000:]
    assert 'loss' in err.split('training diverged at iteration')[1]
    ckpts = glob.glob(osp.join(tmp_path, '*.pth'))
    assert len(ckpts) == 1, ckpts  # max_keep_ckpts=1: the last good one
    for p in ckpts:
        state = torch.load(p, weights_only=True)['state_dict']
        for k, v in state.items():
            if v.is_floating_point():
                assert torch.isfinite(v).all(), (p, k)
    with open(osp.join(tmp_path, 'last_checkpoint')) as f:
        assert f.read().strip() == ckpts[0]
    print(err.split('NonFiniteLossError: ')[1].splitlines()[0])
