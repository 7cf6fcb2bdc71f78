"""Shared fixture of the tool tests: one real quickstart checkpoint.

``tools/train.py configs/quickstart/resnet32_ce_digits-lt.py`` (its
``main``) for one epoch on 16 DigitsLT training images, validated on the
first 100 test images (a few seconds on 2 CPU cores), run once per
session. The work dir also holds the per-class accuracy file of the
validation and the vis_data JSON log.
"""
import glob
import os
import os.path as osp
import sys
from importlib import import_module

import pytest

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _tools_testutils import QUICKSTART_CFG  # noqa: E402


@pytest.fixture(scope='session')
def quickstart_run(tmp_path_factory, repo_root):
    """dict(config, work_dir, checkpoint, log_dir) of a 1-epoch run."""
    work = str(tmp_path_factory.mktemp('quickstart_run'))
    # in-process: a subprocess would import torch / mmpretrain again (~3 s)
    sys.path.insert(0, osp.join(repo_root, 'tools'))
    train = import_module('train')
    cwd = os.getcwd()
    os.chdir(repo_root)
    try:
        train.main([
            QUICKSTART_CFG, '--work-dir', work, '--cfg-options',
            'train_dataloader.dataset.indices=16', 'train_cfg.max_epochs=1',
            'train_cfg.val_interval=1', 'val_dataloader.dataset.indices=100',
            'test_dataloader.dataset.indices=100'
        ])
    finally:
        os.chdir(cwd)
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt), os.listdir(work)
    log_dirs = [
        d for d in glob.glob(osp.join(work, '*'))
        if osp.isdir(d) and osp.isdir(osp.join(d, 'vis_data'))
    ]
    assert len(log_dirs) == 1, log_dirs
    return dict(
        config=osp.join(repo_root, QUICKSTART_CFG),
        work_dir=work,
        checkpoint=ckpt,
        log_dir=log_dirs[0])
