"""Save -> resume with weights_only loading: iteration, optimizer state,
BN buffers and the final weights equal an uninterrupted run."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner


def _cfg(repo_root, work_dir, max_epochs):
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs/quickstart/resnet32_ce_digits-lt.py'))
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.max_epochs = max_epochs
    cfg.train_cfg.val_interval = 100
    # deterministic data: no random augmentation
    cfg.train_dataloader.dataset.pipeline = [dict(type='PackInputs')]
    cfg.train_dataloader.batch_size = 64
    cfg.model.backbone.depth = 20
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=5)
    cfg.default_hooks.logger.interval = 1
    cfg.param_scheduler = [
        dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=3)
    ]
    cfg.randomness = dict(seed=1, deterministic=True)
    cfg.log_level = 'WARNING'
    return cfg


@pytest.mark.slow
def test_resume_matches_uninterrupted_run(repo_root, tmp_path):
    full = Runner.from_cfg(_cfg(repo_root, tmp_path / 'full', 3))
    full.train()
    full_state = copy.deepcopy(full.model.state_dict())

    part = Runner.from_cfg(_cfg(repo_root, tmp_path / 'part', 2))
    part.train()

    cfg = _cfg(repo_root, tmp_path / 'part', 3)
    cfg.resume = True
    cfg.load_from = str(tmp_path / 'part' / 'epoch_2.pth')
    # 1) what resume restores
    check = Runner.from_cfg(copy.deepcopy(cfg))
    check.load_or_resume()
    resumed = check
    assert resumed.epoch == 2
    assert resumed.iter == part.iter
    # optimizer momentum buffers and BN running stats are restored
    saved = torch.load(cfg.load_from, weights_only=True)
    opt_state = resumed.optim_wrapper.optimizer.state_dict()['state']
    assert set(opt_state) == set(saved['optimizer']['state'])
    for k, v in saved['optimizer']['state'].items():
        assert torch.equal(opt_state[k]['momentum_buffer'],
                           v['momentum_buffer'])
    bn = 'backbone.bn1.running_mean'
    assert torch.equal(resumed.model.state_dict()[bn], saved['state_dict'][bn])
    # 2) training on from the checkpoint ends where the uninterrupted run did
    cont = Runner.from_cfg(cfg)
    cont.train()
    assert cont.iter == full.iter
    for k, v in cont.model.state_dict().items():
        assert torch.allclose(v.float(), full_state[k].float(), atol=1e-5), k
