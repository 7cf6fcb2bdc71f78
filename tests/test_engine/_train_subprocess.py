"""Helpers of the training-subprocess tests (tests/test_engine): run
tools/train.py on DigitsLT configs with tiny schedules, interrupt, resume,
compare checkpoints. Also used to measure main (repo_root = a checkout)."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import torch

# (config, extra --cfg-options): tiny schedules; SBCL clusters from epoch 1
CONFIGS = {
    'paco': ('configs/paco/paco_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
             []),
    'rescom':
    ('configs/rescom/rescom_resnet32_1xb32-coslr-40e_digits-lt-if50.py', []),
    'sbcl': ('configs/sbcl/sbcl_resnet32_1xb32-coslr-20e_digits-lt-if50.py',
             ['custom_hooks.1.start_epoch=1', 'custom_hooks.1.interval=1']),
    'hybrid-sc':
    ('configs/hybrid/hybrid-sc_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
     []),
    'hybrid-psc':
    ('configs/hybrid/hybrid-psc_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
     []),
    'kcl': ('configs/kcl/kcl_resnet32_1xb32-coslr-40e_digits-lt-if50.py', []),
}

ITERS_PER_EPOCH = 11  # DigitsLT-IF50 train split: 343 images, batch 32


def common_options(max_epochs):
    return [
        f'train_cfg.max_epochs={max_epochs}', 'train_cfg.val_interval=100',
        'randomness.seed=0', 'randomness.deterministic=True',
        'default_hooks.logger.interval=1', 'log_level=WARNING'
    ]


def train(repo_root, config, work_dir, options, resume=False, timeout=900):
    """Run tools/train.py; returns the CompletedProcess."""
    args = [
        sys.executable,
        osp.join(repo_root, 'tools/train.py'),
        osp.join(repo_root, config), '--work-dir',
        str(work_dir), '--no-validate', '--cfg-options'
    ] + list(options)
    if resume:
        args.append('--resume')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=repo_root)
    return subprocess.run(
        args,
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)


def check_ok(proc):
    if proc.returncode != 0:
        raise AssertionError(f'train.py failed ({proc.returncode}):\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}')


def final_state(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    return ckpt


def max_abs_diff(a, b):
    """Max abs difference over every weight and buffer (inf if the key sets
    differ)."""
    if set(a) != set(b):
        return float('inf')
    diff = 0.0
    for k in a:
        x, y = a[k], b[k]
        if x.shape != y.shape:
            return float('inf')
        if x.numel():
            diff = max(diff, (x.double() - y.double()).abs().max().item())
    return diff


def iterations_run(work_dir):
    """Training iterations logged by the last run in ``work_dir`` (logger
    interval 1)."""
    runs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                     'scalars.json')))
    with open(runs[-1]) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return sum(1 for r in records if 'loss' in r and 'iter' in r)


def interrupted_run(repo_root, config, work_dir, options, stop):
    """Train with ``InterruptTrainingHook(**stop)`` then ``--resume``;
    returns the resumed process."""
    stop_opts = ['default_hooks.interrupt.type=InterruptTrainingHook'] + [
        f'default_hooks.interrupt.{k}={v}' for k, v in stop.items()
    ]
    check_ok(train(repo_root, config, work_dir, options + stop_opts))
    resumed = train(repo_root, config, work_dir, options, resume=True)
    check_ok(resumed)
    return resumed
