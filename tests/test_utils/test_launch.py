"""ltcls.utils.launch: the CPU / gloo path of ``--launcher pytorch``."""
import pytest
from mmengine.config import Config

from ltcls.utils.launch import replace_sync_bn, setup_cpu_distributed


def test_replace_sync_bn_nested():
    model = dict(
        type='FasterRCNN',
        backbone=dict(norm_cfg=dict(type='SyncBN', requires_grad=True)),
        roi_head=dict(
            shared_head=dict(norm_cfg=dict(type='MMSyncBN')),
            heads=[dict(norm_cfg=dict(type='SyncBatchNorm')),
                   dict(norm_cfg=dict(type='GN', num_groups=32))]))
    assert replace_sync_bn(model) == 3
    assert model['backbone']['norm_cfg'] == dict(type='BN',
                                                 requires_grad=True)
    assert model['roi_head']['shared_head']['norm_cfg']['type'] == 'BN'
    assert model['roi_head']['heads'][0]['norm_cfg']['type'] == 'BN'
    assert model['roi_head']['heads'][1]['norm_cfg']['type'] == 'GN'
    assert replace_sync_bn(model) == 0


def test_setup_cpu_distributed_reverts_sync_bn(monkeypatch):
    import torch
    import torch.distributed as dist
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(dist, 'is_initialized', lambda: True)
    cfg = Config(
        dict(
            launcher='pytorch',
            sync_bn='torch',
            model=dict(
                type='ImageClassifier',
                backbone=dict(
                    type='ResNet', norm_cfg=dict(type='SyncBN')))))
    with pytest.warns(UserWarning, match="1 SyncBN norm layer config"):
        assert setup_cpu_distributed(cfg)
    assert cfg.sync_bn is None
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'


def test_setup_cpu_distributed_needs_torchrun_env(monkeypatch):
    import torch
    import torch.distributed as dist
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(dist, 'is_initialized', lambda: False)
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeError, match='tools/dist_train.sh'):
        setup_cpu_distributed(Config(dict(launcher='pytorch')))


def test_no_change_without_pytorch_launcher():
    cfg = Config(dict(model=dict(norm_cfg=dict(type='SyncBN'))))
    assert not setup_cpu_distributed(cfg)
    assert cfg.model.norm_cfg.type == 'SyncBN'
