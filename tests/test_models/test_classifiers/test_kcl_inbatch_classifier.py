# Copyright (c) ltcls contributors. All rights reserved.
"""KCL in-batch mode as a model: ``SupConClassifier`` with
``SupConLoss(pos_k=k)`` and its DigitsLT config."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmpretrain.structures import DataSample

from ltcls.models.losses import supcon_loss
from ltcls.registry import MODELS

CONFIG = osp.join('configs', 'kcl',
                  'kcl-inbatch_resnet32_1xb32-coslr-40e_digits-lt-if50.py')


def _small(cfg):
    """The config's model with a 4-channel ResNet-20 (fast on CPU)."""
    cfg.model.backbone = dict(type='ResNet32CIFAR', depth=20, base_channels=4)
    cfg.model.projector.in_channels = 16
    return cfg


def _batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(n, 3, 16, 16, generator=g) for _ in range(2)]
    labels = torch.randint(0, 3, (n, ), generator=g)
    return views, [DataSample().set_gt_label(int(y)) for y in labels], labels


def test_config_builds_the_in_batch_mode(repo_root):
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    assert cfg.model.type == 'SupConClassifier'
    for key in ('queue_len', 'momentum', 'pos_k', 'loss_variant'):
        assert key not in cfg.model  # the queue KCL's keys are deleted
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert 'QueueWarmupHook' not in hooks
    model = MODELS.build(cfg.model)
    loss = model.loss_module
    assert type(loss).__name__ == 'SupConLoss'
    assert (loss.pos_k, loss.pos_selection, loss.variant, loss.temperature) \
        == (6, 'random', 'v1', 0.07)
    assert not model.with_queue and not model.with_momentum_encoder
    assert model.projector is not None and not model.with_head


def test_loss_equals_functional_with_runner_iteration(repo_root):
    cfg = _small(Config.fromfile(osp.join(repo_root, CONFIG)))
    cfg.model.loss.update(pos_k=2, temperature=0.2)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    views, samples, labels = _batch()
    hub = MessageHub.get_current_instance()
    old = hub.get_info('iter', None)
    try:
        losses = {}
        for it in (7, 8):
            hub.update_info('iter', it)
            assert model.selection_step() == it
            losses[it] = model.loss(views, samples)
    finally:
        hub.update_info('iter', 0 if old is None else old)
    assert set(losses[7]) == {'loss_supcon', 'kcl_num_pos'}
    with torch.no_grad():
        z = model.embed(torch.cat(views))[1]
    z = z.view(2, len(labels), -1).transpose(0, 1)  # (N, V, d)
    for it in (7, 8):
        expected, num = supcon_loss(
            z,
            labels,
            temperature=0.2,
            pos_k=2,
            step=it,
            return_num_selected=True)
        torch.testing.assert_close(
            losses[it]['loss_supcon'].detach(), expected, rtol=1e-5, atol=1e-6)
        assert float(losses[it]['kcl_num_pos']) == pytest.approx(
            float(num.float().mean()))
    # every anchor has its other view, so each has min(2, P) >= 1
    assert float(losses[7]['kcl_num_pos']) >= 1


@pytest.mark.slow
def test_config_trains_one_epoch(repo_root, tmp_path):
    from mmengine.runner import Runner
    cfg = _small(Config.fromfile(osp.join(repo_root, CONFIG)))
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1)
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    assert torch.isfinite(
        torch.tensor(hub.get_scalar('train/loss_supcon').current()))
    assert hub.get_scalar('train/kcl_num_pos').current() >= 1
    assert osp.exists(osp.join(str(tmp_path), 'epoch_1.pth'))
