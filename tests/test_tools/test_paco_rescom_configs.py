# Copyright (c) ltcls contributors. All rights reserved.
"""The PaCo / ResCom configs load, build their models and encode the
recipes of spec_paco.md §4 and spec_rescom.md §4."""
import glob
import os.path as osp

import pytest
import torch
import yaml
from mmengine.config import Config

from ltcls.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', 'paco', '*.py')) +
    glob.glob(osp.join(REPO, 'configs', 'paco', 'benchmarks', '*.py')) +
    glob.glob(osp.join(REPO, 'configs', 'rescom', '*.py')))


def _cfg(name):
    return Config.fromfile(osp.join(REPO, 'configs', name))


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_config_builds(path):
    cfg = Config.fromfile(path)
    model_cfg = cfg.model.copy()
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if 'resnet32' not in path:  # ImageNet-scale: build only
        model = MODELS.build(model_cfg)
        assert model.head.num_classes == cfg.data_preprocessor.num_classes
        return
    model = MODELS.build(model_cfg).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 32, 32), mode='tensor')
    assert out.shape == (2, cfg.model.head.num_classes)
    assert {h['type'] for h in cfg.custom_hooks} >= {'ClassCountsHook'}
    assert cfg.train_dataloader.dataset.pipeline[0]['type'] == 'MultiView'


def test_readme_metafile_and_short_name():
    for method in ('paco', 'rescom'):
        folder = osp.join(REPO, 'configs', method)
        assert osp.isfile(osp.join(folder, 'README.md'))
        with open(osp.join(folder, 'metafile.yml')) as f:
            meta = yaml.safe_load(f)
        for model in meta['Models']:
            assert osp.isfile(osp.join(REPO, model['Config'])), model
            if 'Converted From' in model:
                continue  # authors' checkpoints: tests/test_model_index.py
            assert model['Results'] is None  # nothing trained yet
    short = _cfg('rescom/r50_imagenet_lt.py')
    full = _cfg('rescom/rescom_resnet50_8xb32-400e_imagenet-lt.py')
    for key in ('model', 'optim_wrapper', 'param_scheduler', 'train_cfg',
                'train_dataloader', 'test_dataloader'):
        assert short[key] == full[key], key


def test_paco_recipes():
    c = _cfg('paco/paco_resnet32_1xb128-400e_cifar100-lt-if100.py')
    assert (c.optim_wrapper.optimizer.lr, c.train_dataloader.batch_size,
            c.model.queue_len, c.model.feat_dim) == (0.05, 128, 1024, 32)
    assert (c.model.loss.alpha, c.model.loss.temperature) == (0.01, 0.05)
    assert c.param_scheduler[1]['milestones'] == [320, 360]
    views = c.train_dataloader.dataset.pipeline[0]['transforms']
    assert [t['type']
            for t in views[0]][2:] == ['CIFAR10AutoAugment', 'Cutout']
    assert views[1][0]['crop_ratio_range'] == (0.2, 1.0)
    r50 = _cfg('paco/paco_resnet50_4xb32-400e_imagenet-lt.py')
    assert (r50.optim_wrapper.optimizer.lr, r50.train_dataloader.batch_size,
            r50.model.momentum, r50.model.queue_len) == (0.02, 32, 0.001, 8192)
    assert (r50.model.loss.alpha, r50.model.loss.temperature,
            r50.model.loss.center_rebalance) == (0.05, 0.2, True)
    assert r50.param_scheduler[1]['T_max'] == 390
    q_view, k_view = r50.train_dataloader.dataset.pipeline[1]['transforms']
    assert q_view[-1]['type'] == 'TimmRandAugment'
    assert 'GaussianBlur' in [t['type'] for t in k_view]
    assert _cfg('paco/paco_resnext50-32x4d_4xb32-400e_imagenet-lt.py'
                ).model.loss.temperature == 0.07
    x101 = _cfg('paco/paco_resnext101-32x4d_4xb32-400e_imagenet-lt.py')
    assert x101.optim_wrapper.optimizer.lr == 0.03
    assert x101.train_dataloader.dataset.pipeline[1]['transforms'][0][-1][
        'num_policies'] == 3
    inat = _cfg('paco/paco_resnet50_4xb32-400e_inat2018.py')
    assert inat.optim_wrapper.optimizer.weight_decay == 1e-4
    places = _cfg('paco/paco_resnet152-in1k-pre_4xb32-30e_places-lt.py')
    assert places.model.trainable_conv == ['layer4.2']
    assert places.optim_wrapper.type == 'GuardedAmpOptimWrapper'
    assert places.train_cfg.max_epochs == 30
    assert places.model.backbone.init_cfg.checkpoint == \
        'torchvision://resnet152'
    assert _cfg('paco/paco_resnet50_8xb32-400e_in1k.py'
                ).model.loss.center_rebalance is False
    gpaco = _cfg('paco/gpaco_resnet50_4xb32-400e_imagenet-lt.py')
    assert gpaco.model.momentum is None
    assert gpaco.model.anchor_views == 'both'


def test_rescom_recipes():
    c = _cfg('rescom/rescom_resnet32_1xb128-400e_cifar100-lt-if100.py')
    assert (c.model.queue_size_per_cls, c.model.loss.num_pos,
            c.model.loss.num_neg) == (10, 1, 400)
    assert c.model.loss.effective_num_beta == 0.999999
    assert (c.model.loss.temperature, c.model.loss.con_weight) == (0.2, 0.5)
    assert (c.optim_wrapper.optimizer.lr, c.train_dataloader.batch_size,
            c.model.feat_dim) == (0.1, 128, 32)
    assert c.model.loss.variant == 'code'
    assert _cfg('rescom/rescom-alg1_resnet32_1xb128-400e_cifar100-lt-if100.py'
                ).model.loss.variant == 'paper'
    r50 = _cfg('rescom/r50_imagenet_lt.py')
    assert (r50.optim_wrapper.optimizer.lr, r50.train_dataloader.batch_size,
            r50.train_cfg.max_epochs) == (0.06, 32, 400)
    view = r50.train_dataloader.dataset.pipeline[1]
    assert view['num_views'] == 2 and len(view['transforms']) == 1
    assert _cfg('rescom/rescom_resnet50_8xb32-400e_inat2018.py'
                ).optim_wrapper.optimizer.lr == 0.08
    places = _cfg('rescom/rescom_resnet152-in1k-pre_8xb32-30e_places-lt.py')
    assert places.optim_wrapper.optimizer.lr == 0.02
    assert places.model.trainable_conv == ['layer4.2']
