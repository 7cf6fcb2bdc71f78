"""ltcls registries are children of mmpretrain's: both directions."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope, init_default_scope

from ltcls.registry import DATASETS, HOOKS, MODELS


def test_ltcls_scope_builds_ltcls_and_mmpretrain_modules():
    init_default_scope('ltcls')
    model = MODELS.build(
        dict(
            type='ImageClassifier',  # mmpretrain
            backbone=dict(type='ResNet32CIFAR', depth=20),  # ltcls
            neck=dict(type='GlobalAveragePooling'),  # mmpretrain
            head=dict(
                type='LinearClsHead',
                num_classes=10,
                in_channels=64,
                loss=dict(type='CrossEntropyLoss'))))
    out = model(torch.randn(2, 3, 32, 32), mode='tensor')
    assert out.shape == (2, 10)
    assert type(model.backbone).__module__.startswith('ltcls.')
    assert MODELS.scope == 'ltcls' and MODELS.parent.scope == 'mmpretrain'
    assert DATASETS.get('DigitsLT').__module__.startswith('ltcls.')
    assert DATASETS.get('CIFAR10') is not None  # inherited from mmpretrain
    assert HOOKS.get('NumClassesCheckHook') is not None


def test_mmdet_scope_reaches_ltcls_modules():
    """From a detection (mmdet-scoped) config, ltcls modules are reached
    with ``_scope_='ltcls'``, and mmdet modules stay the default."""
    import mmdet.registry
    with DefaultScope.overwrite_default_scope('mmdet'):
        backbone = mmdet.registry.MODELS.build(
            dict(type='ResNet32CIFAR', depth=20, _scope_='ltcls'))
        assert type(backbone).__name__ == 'ResNet32CIFAR'
        det_resnet = mmdet.registry.MODELS.build(
            dict(type='ResNet', depth=18))
        assert type(det_resnet).__module__.startswith('mmdet.')
        with pytest.raises(KeyError):
            mmdet.registry.MODELS.build(dict(type='ResNet32CIFAR', depth=20))


def test_ltcls_configs_default_scope(repo_root):
    from mmengine.config import Config
    cfg = Config.fromfile(
        f'{repo_root}/configs/quickstart/resnet32_ce_digits-lt.py')
    assert cfg.default_scope == 'ltcls'
    assert isinstance(cfg.model, ConfigDict)
