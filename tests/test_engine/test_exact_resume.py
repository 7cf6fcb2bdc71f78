"""Interrupted + resumed training == uninterrupted training, bit for bit.

Real ``tools/train.py`` subprocesses on DigitsLT (CPU, deterministic mode,
the configs' own augmentation): an uninterrupted run, a run that is
interrupted (``InterruptTrainingHook``: the process exits abruptly right
after a checkpoint is written) and a ``--resume`` of it. Every weight and
buffer of the final models must be equal (max abs difference 0), and a
resume from an iteration checkpoint inside an epoch must train exactly the
remaining iterations of the schedule.
"""
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _train_subprocess import (CONFIGS, ITERS_PER_EPOCH,  # noqa: E402
                               check_ok, common_options, final_state,
                               interrupted_run, iterations_run, max_abs_diff,
                               train)


@pytest.mark.slow
@pytest.mark.parametrize('name', list(CONFIGS))
def test_epoch_resume_is_bit_exact(repo_root, tmp_path, name):
    """2 epochs uninterrupted == 1 epoch, interrupt, resume to 2."""
    config, extra = CONFIGS[name]
    options = common_options(2) + extra + [
        'default_hooks.checkpoint.interval=1'
    ]
    full = tmp_path / 'full'
    check_ok(train(repo_root, config, full, options))
    part = tmp_path / 'part'
    interrupted_run(repo_root, config, part, options, dict(epoch=1))
    a, b = final_state(full), final_state(part)
    assert a['meta']['iter'] == b['meta']['iter']
    # the RNG states of the rank are in the checkpoint, as plain tensors
    assert b['rng_state']['torch'].shape[0] == 1
    diff = max_abs_diff(a['state_dict'], b['state_dict'])
    print(f'{name}: max abs diff (epoch resume) = {diff}')
    assert diff == 0, f'{name}: resumed weights differ by {diff}'


@pytest.mark.slow
@pytest.mark.parametrize('name', ['paco', 'sbcl'])
def test_mid_epoch_resume_is_bit_exact(repo_root, tmp_path, name):
    """22-iteration schedule (2 epochs of 11) with iteration checkpoints
    every 8: interrupted after iteration 16 (batch 5 of epoch 2, after
    SBCL's clustering of that epoch), the resume trains the remaining
    iterations of the schedule (mmengine's loop: the whole epoch again) and
    ends where the uninterrupted run does."""
    config, extra = CONFIGS[name]
    options = common_options(2) + extra + [
        'default_hooks.checkpoint.by_epoch=False',
        'default_hooks.checkpoint.interval=8'
    ]
    full = tmp_path / 'full'
    check_ok(train(repo_root, config, full, options))
    part = tmp_path / 'part'
    interrupted_run(repo_root, config, part, options, dict(iter=16))
    a, b = final_state(full), final_state(part)
    # 2 epochs of 11 batches (SBCL's drop_last=True: 10)
    schedule = 2 * (ITERS_PER_EPOCH - (name == 'sbcl'))
    assert a['meta']['iter'] == b['meta']['iter'] == schedule
    assert iterations_run(part) == schedule - 16
    diff = max_abs_diff(a['state_dict'], b['state_dict'])
    print(f'{name}: max abs diff (mid-epoch resume) = {diff}')
    assert diff == 0, f'{name}: resumed weights differ by {diff}'
