"""AtomicCheckpointHook: write to a temporary file, fsync, rename; then
last_checkpoint; then remove old checkpoints. A real training process
killed with SIGKILL in the middle of a checkpoint write resumes from the
last complete checkpoint."""
import glob
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import Runner

from ltcls.engine.hooks import AtomicCheckpointHook
from ltcls.engine.hooks import atomic_checkpoint_hook as hook_module
from ltcls.utils import atomic_io
from ltcls.utils.atomic_io import (STALL_ENV, STALL_MESSAGE,
                                   atomic_write_bytes, stale_temp_files,
                                   temp_path_for)

CFG = 'configs/quickstart/resnet32_ce_digits-lt.py'


# ---------------------------------------------------------------------------
# atomic_write_bytes
# ---------------------------------------------------------------------------
def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / 'sub' / 'f.bin'
    atomic_write_bytes(b'old content', path)
    atomic_write_bytes(b'new', path)
    assert path.read_bytes() == b'new'
    assert stale_temp_files(str(path.parent)) == []


def test_atomic_write_failure_keeps_old_content(tmp_path, monkeypatch):
    path = tmp_path / 'f.bin'
    atomic_write_bytes(b'old content', path)

    def broken_replace(src, dst):
        raise OSError('disk full (simulated)')

    monkeypatch.setattr(atomic_io.os, 'replace', broken_replace)
    with pytest.raises(OSError, match='simulated'):
        atomic_write_bytes(b'new content', path)
    assert path.read_bytes() == b'old content'
    assert not osp.exists(temp_path_for(str(path)))


def test_stall_switch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(STALL_ENV, 'x')
    with pytest.raises(ValueError, match=STALL_ENV):
        atomic_write_bytes(b'abc', tmp_path / 'a.pth')
    monkeypatch.setenv(STALL_ENV, '0.01:epoch_2.pth')
    atomic_write_bytes(b'abc', tmp_path / 'epoch_1.pth')  # no match
    assert STALL_MESSAGE not in capsys.readouterr().err
    atomic_write_bytes(b'abcdef', tmp_path / 'epoch_2.pth')
    assert STALL_MESSAGE in capsys.readouterr().err
    assert (tmp_path / 'epoch_2.pth').read_bytes() == b'abcdef'


# ---------------------------------------------------------------------------
# the hook in a Runner
# ---------------------------------------------------------------------------
def _cfg(repo_root, work_dir, max_epochs=3, **hook):
    cfg = Config.fromfile(osp.join(repo_root, CFG))
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.dataset.indices = 32
    cfg.train_dataloader.batch_size = 16
    cfg.train_cfg.max_epochs = max_epochs
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg.pop('val_interval', None)
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.model.backbone.depth = 20
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(
        type='AtomicCheckpointHook', interval=1, **hook)
    cfg.log_level = 'WARNING'
    return cfg


def test_default_runtime_uses_atomic_hook(repo_root, tmp_path):
    cfg = Config.fromfile(osp.join(repo_root, CFG))
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    runner = Runner.from_cfg(_cfg(repo_root, tmp_path, 1))
    hooks = [h for h in runner.hooks if isinstance(h, AtomicCheckpointHook)]
    assert len(hooks) == 1


CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(osp.dirname(osp.dirname(osp.dirname(osp.dirname(
            osp.abspath(__file__))))), 'configs', '**', '*.py'),
        recursive=True) if '_base_' not in p.split(osp.sep))


def test_every_config_saves_atomically():
    """Every config (also the mmdet-scoped detection benchmarks and those
    that override default_hooks.checkpoint) ends up with the atomic hook;
    every ltcls-scoped one with the CheckedRunner."""
    assert len(CONFIGS) > 20
    wrong = []
    for path in CONFIGS:
        cfg = Config.fromfile(path)
        hook = cfg.get('default_hooks', {}).get('checkpoint', None)
        scope = cfg.get('default_scope', 'ltcls')
        ok = hook is not None and hook.get('type') == 'AtomicCheckpointHook'
        if scope != 'ltcls':
            ok = ok and hook.get('_scope_') == 'ltcls'
        else:
            ok = ok and cfg.get('runner_type') == 'CheckedRunner'
        if not ok:
            wrong.append((path, scope, hook, cfg.get('runner_type')))
    assert not wrong, wrong


def test_detection_config_builds_atomic_hook(repo_root):
    """The mmdet scope builds the ltcls hook through `_scope_`."""
    from mmengine.registry import HOOKS, DefaultScope
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs/benchmarks/mmdetection/coco/'
                 'mask-rcnn_r50-c4_ms-1x_coco.py'))
    DefaultScope.get_instance('atomic-hook-mmdet', scope_name='mmdet')
    hook = HOOKS.build(cfg.default_hooks.checkpoint)
    assert type(hook) is AtomicCheckpointHook
    assert hook.max_keep_ckpts == 3 and hook.by_epoch is False


@pytest.mark.parametrize('max_keep', [1, 2, -1])
def test_max_keep_ckpts(repo_root, tmp_path, max_keep):
    runner = Runner.from_cfg(
        _cfg(repo_root, tmp_path, 3, max_keep_ckpts=max_keep))
    runner.train()
    kept = sorted(f for f in os.listdir(tmp_path) if f.endswith('.pth'))
    expected = {1: ['epoch_3.pth'], 2: ['epoch_2.pth', 'epoch_3.pth'],
                -1: ['epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth']}[max_keep]
    assert kept == expected
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'epoch_3.pth')
    assert stale_temp_files(str(tmp_path)) == []
    for name in kept:
        ckpt = torch.load(tmp_path / name, weights_only=True)
        assert ckpt['meta']['epoch'] == int(name[6:-4])
    last = torch.load(tmp_path / 'epoch_3.pth', weights_only=True)
    if max_keep > 0:
        assert last['message_hub']['runtime_info']['keep_ckpt_ids'] == [
            int(n[6:-4]) for n in expected]


def _record_events(monkeypatch):
    events = []
    real_replace = atomic_io.os.replace
    real_remove = atomic_io.LocalBackend.remove

    def replace(src, dst):
        assert osp.getsize(src) > 0
        real_replace(src, dst)
        events.append(('complete', osp.basename(dst)))

    def remove(self, path):
        events.append(('remove', osp.basename(path)))
        real_remove(self, path)

    monkeypatch.setattr(atomic_io.os, 'replace', replace)
    monkeypatch.setattr(atomic_io.AtomicLocalBackend, 'remove', remove)
    return events


def test_write_then_last_checkpoint_then_remove(repo_root, tmp_path,
                                                monkeypatch):
    events = _record_events(monkeypatch)
    Runner.from_cfg(_cfg(repo_root, tmp_path, 3, max_keep_ckpts=1)).train()
    assert events == [
        ('complete', 'epoch_1.pth'), ('complete', 'last_checkpoint'),
        ('complete', 'epoch_2.pth'), ('complete', 'last_checkpoint'),
        ('remove', 'epoch_1.pth'),
        ('complete', 'epoch_3.pth'), ('complete', 'last_checkpoint'),
        ('remove', 'epoch_2.pth'),
    ]


def test_best_checkpoint_removed_after_new_best(repo_root, tmp_path,
                                                monkeypatch):
    runner = Runner.from_cfg(
        _cfg(repo_root, tmp_path, 1, max_keep_ckpts=1, save_best='acc',
             rule='greater'))
    runner.train()
    hook = [h for h in runner.hooks if isinstance(h, AtomicCheckpointHook)][0]
    events = _record_events(monkeypatch)
    hook._save_best_checkpoint(runner, {'acc': 1.0})
    runner.train_loop._epoch = 2
    hook._save_best_checkpoint(runner, {'acc': 2.0})
    assert events[:2] == [('complete', 'best_acc_epoch_1.pth'),
                          ('complete', 'epoch_1.pth')]
    second = events[events.index(('complete', 'last_checkpoint')) + 1:]
    # the new best, the re-saved latest checkpoint and last_checkpoint are
    # all complete before the previous best (and epoch_1) is removed
    assert second == [('complete', 'best_acc_epoch_2.pth'),
                      ('complete', 'epoch_2.pth'),
                      ('complete', 'last_checkpoint'),
                      ('remove', 'best_acc_epoch_1.pth'),
                      ('remove', 'epoch_1.pth')]
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.pth')) == [
        'best_acc_epoch_2.pth', 'epoch_2.pth']


def test_stale_temp_file_removed_before_training(repo_root, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    stale = tmp_path / '.epoch_2.pth.tmp-99999'
    stale.write_bytes(b'half a checkpoint')
    Runner.from_cfg(_cfg(repo_root, tmp_path, 1, max_keep_ckpts=1)).train()
    assert not stale.exists()
    assert (tmp_path / 'epoch_1.pth').is_file()


def test_only_the_main_process_writes_last_checkpoint(tmp_path,
                                                      monkeypatch):
    """On rank > 0 (mmengine's Runner.save_checkpoint is master_only) the
    hook neither writes last_checkpoint nor removes anything."""
    monkeypatch.setattr(hook_module, 'is_main_process', lambda: False)
    hook = AtomicCheckpointHook(interval=1, max_keep_ckpts=1)
    hook.out_dir = str(tmp_path)
    hook.file_backend = atomic_io.AtomicLocalBackend()
    hook.keep_ckpt_ids = deque([1], 1)
    (tmp_path / 'epoch_1.pth').write_bytes(b'complete')
    saved = []
    runner = SimpleNamespace(
        work_dir=str(tmp_path),
        message_hub=MessageHub.get_instance('atomic-hook-rank1'),
        save_checkpoint=lambda *a, **k: saved.append(a[1]))
    hook._save_checkpoint_with_step(runner, 2, dict(epoch=2, iter=4))
    assert saved == ['epoch_2.pth']
    assert (tmp_path / 'epoch_1.pth').is_file()
    assert not (tmp_path / 'last_checkpoint').exists()
    assert list(hook.keep_ckpt_ids) == [2]


# ---------------------------------------------------------------------------
# SIGKILL during the write of a real training process, then --resume
# ---------------------------------------------------------------------------
TRAIN_ARGS = [
    '--cfg-options', 'train_dataloader.dataset.indices=64',
    'train_dataloader.batch_size=32', 'train_cfg.max_epochs=3',
    'train_cfg.val_interval=100', 'model.backbone.depth=20',
    'default_hooks.checkpoint.interval=1',
    'default_hooks.checkpoint.max_keep_ckpts=1',
    'default_hooks.logger.interval=1'
]


def _train_iters(work_dir):
    """The train iterations each run logged: {timestamp dir: [steps]}."""
    import json
    runs = {}
    for d in sorted(os.listdir(work_dir)):
        scalars = osp.join(work_dir, d, 'vis_data', 'scalars.json')
        if osp.isfile(scalars):
            with open(scalars) as f:
                rows = [json.loads(line) for line in f if line.strip()]
            runs[d] = [r['step'] for r in rows if 'loss' in r]
    return runs


@pytest.mark.slow
def test_sigkill_during_checkpoint_write_then_resume(repo_root, tmp_path):
    work = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=repo_root)
    env[STALL_ENV] = '600:epoch_2.pth'
    cmd = [sys.executable, 'tools/train.py', CFG, '--work-dir', str(work)]
    proc = subprocess.Popen(cmd + TRAIN_ARGS, cwd=repo_root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    lines = []
    stalled = threading.Event()

    def read_stderr():
        for line in proc.stderr:
            lines.append(line)
            if STALL_MESSAGE in line:
                stalled.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert stalled.wait(600), ''.join(lines[-50:])
        # the writer is inside the write of epoch_2.pth: kill it there
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    reader.join(10)

    # what the kill left: epoch_1 complete, epoch_2 half in a temp file
    temps = stale_temp_files(str(work))
    assert [osp.basename(t) for t in temps] == [
        f'.epoch_2.pth.tmp-{proc.pid}']
    assert not (work / 'epoch_2.pth').exists()
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_1.pth')
    ckpt1 = torch.load(work / 'epoch_1.pth', weights_only=True)
    assert ckpt1['meta'] == {**ckpt1['meta'], 'epoch': 1, 'iter': 2}
    from ltcls.utils import CorruptCheckpointError, safe_torch_load
    with pytest.raises(CorruptCheckpointError, match='truncated or corrupt'):
        safe_torch_load(temps[0])

    # --resume picks up epoch_1.pth and finishes the schedule
    env.pop(STALL_ENV)
    done = subprocess.run(cmd + ['--resume'] + TRAIN_ARGS, cwd=repo_root,
                          env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-5000:]
    out = done.stdout + done.stderr
    assert f'Auto resumed from the latest checkpoint {work}/epoch_1.pth' \
        in out, out[-3000:]
    assert sorted(f for f in os.listdir(work) if f.endswith('.pth')) == [
        'epoch_3.pth']
    assert stale_temp_files(str(work)) == []
    final = torch.load(work / 'epoch_3.pth', weights_only=True)
    assert final['meta']['epoch'] == 3 and final['meta']['iter'] == 6
    runs = _train_iters(str(work))
    assert len(runs) == 2, runs
    first, second = (runs[k] for k in sorted(runs))
    # killed during the epoch-2 save: iterations 1-4 ran, 3-6 after resume
    assert first == [1, 2, 3, 4] and second == [3, 4, 5, 6], runs
    print(f'\nkilled pid {proc.pid} while writing epoch_2.pth; resumed from '
          f'epoch_1.pth (iter 2); resumed run trained iterations {second}; '
          f'final epoch_3.pth at iter {final["meta"]["iter"]}')


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_only_rank0_writes(repo_root, tmp_path):
    """tools/dist_train.sh with 2 gloo processes: each checkpoint and
    last_checkpoint is written once (by rank 0; the stall switch with 0 s
    reports every write), the old one removed, nothing half-written."""
    work = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=repo_root,
               PORT=str(_free_port()), PYTHON=sys.executable)
    env[STALL_ENV] = '0'
    args = [a for a in TRAIN_ARGS if a != 'train_cfg.max_epochs=3']
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', CFG, '2', '--work-dir', str(work)] +
        args + ['train_cfg.max_epochs=2', 'train_dataloader.batch_size=16'],
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-5000:]
    writes = re.findall(re.escape(STALL_MESSAGE) + r' (\S+) ', proc.stderr)
    assert sorted(writes) == sorted([
        str(work / 'epoch_1.pth'), str(work / 'last_checkpoint'),
        str(work / 'epoch_2.pth'), str(work / 'last_checkpoint')]), writes
    assert sorted(f for f in os.listdir(work) if f.endswith('.pth')) == [
        'epoch_2.pth']
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_2.pth')
    assert stale_temp_files(str(work)) == []
    final = torch.load(work / 'epoch_2.pth', weights_only=True)
    assert final['meta']['iter'] == 4  # 64 images / (2 x 16) x 2 epochs
