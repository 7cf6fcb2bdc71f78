"""End to end: tools/train.py then tools/test.py on DigitsLT (CPU)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

CFG = 'configs/quickstart/resnet32_ce_digits-lt.py'


def _run(args, cwd, expect_ok=True):
    env = dict(os.environ, OMP_NUM_THREADS='2')
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    if expect_ok and proc.returncode != 0:
        raise AssertionError(f'{args} failed:\n{proc.stdout[-3000:]}\n'
                             f'{proc.stderr[-5000:]}')
    return proc


@pytest.mark.slow
def test_train_then_test(repo_root, tmp_path):
    work = str(tmp_path / 'work')
    _run(['tools/train.py', CFG, '--work-dir', work, '--cfg-options',
          'train_cfg.max_epochs=6', 'train_cfg.val_interval=6',
          'default_hooks.checkpoint.interval=1'], repo_root)
    ckpt = osp.join(work, 'epoch_6.pth')
    assert osp.isfile(ckpt)
    out = str(tmp_path / 'metrics.json')
    proc = _run(['tools/test.py', CFG, ckpt, '--work-dir', work,
                 '--out-metrics', out], repo_root)
    metrics = json.load(open(out))
    assert 'accuracy/top1' in metrics
    # 6 epochs on 10 classes: must beat chance (10%) clearly
    assert metrics['accuracy/top1'] > 18.0, metrics
    assert 'accuracy/top1' in proc.stdout + proc.stderr


def test_unknown_config_is_clear_error(repo_root):
    proc = _run(['tools/train.py', 'configs/nope/missing.py'], repo_root,
                expect_ok=False)
    assert proc.returncode != 0
    assert 'config file not found: configs/nope/missing.py' in proc.stderr


@pytest.mark.slow
def test_num_classes_mismatch_is_clear_error(repo_root, tmp_path):
    proc = _run(['tools/train.py', CFG, '--work-dir', str(tmp_path),
                 '--cfg-options', 'model.head.num_classes=7'], repo_root,
                expect_ok=False)
    assert proc.returncode != 0
    assert 'num_classes mismatch: model.head.num_classes=7' in proc.stderr
    assert 'has 10 classes' in proc.stderr


@pytest.mark.slow
def test_test_refuses_mismatched_checkpoint(repo_root, tmp_path):
    import torch
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(1)}},
               bad)
    proc = _run(['tools/test.py', CFG, str(bad), '--work-dir',
                 str(tmp_path)], repo_root, expect_ok=False)
    assert proc.returncode != 0
    assert 'does not match the model' in proc.stderr
    assert 'shape mismatch' in proc.stderr and 'missing key' in proc.stderr


def test_train_accepts_both_local_rank_spellings():
    sys.path.insert(0, 'tools')
    from importlib import import_module
    train = import_module('train')
    a = train.parse_args([CFG, '--local-rank', '1'])
    b = train.parse_args([CFG, '--local_rank', '1'])
    assert a.local_rank == b.local_rank == 1


def _train_module(repo_root):
    from importlib import import_module
    tools = osp.join(repo_root, 'tools')
    if tools not in sys.path:
        sys.path.insert(0, tools)
    return import_module('train')


def test_amp_sets_amp_optim_wrapper(repo_root, monkeypatch):
    import torch
    from mmengine.config import Config
    train = _train_module(repo_root)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    args = train.parse_args([CFG, '--amp'])
    cfg = train.merge_args(Config.fromfile(osp.join(repo_root, CFG)), args)
    assert cfg.optim_wrapper.type == 'GuardedAmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'


def test_amp_without_gpu_is_clear_error(repo_root, monkeypatch):
    import torch
    from mmengine.config import Config
    train = _train_module(repo_root)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    args = train.parse_args([CFG, '--amp'])
    with pytest.raises(RuntimeError, match='--amp needs a GPU'):
        train.merge_args(Config.fromfile(osp.join(repo_root, CFG)), args)
