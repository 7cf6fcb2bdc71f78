"""The long-tail baseline configs build their models and encode the recipes
(LDAM-DRW schedule, cRT freezing, post-hoc heads)."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim.scheduler import LinearLR, MultiStepLR

from ltcls.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FOLDERS = ('ce', 'balanced_softmax', 'ldam_drw', 'logit_adjust', 'crt',
           'tau_norm')
CONFIGS = sorted(
    p for d in FOLDERS
    for p in glob.glob(osp.join(REPO, 'configs', d, '*.py')))


def test_every_folder_has_configs_readme_metafile():
    for d in FOLDERS:
        assert glob.glob(osp.join(REPO, 'configs', d, '*.py')), d
        assert osp.isfile(osp.join(REPO, 'configs', d, 'README.md')), d
        assert osp.isfile(osp.join(REPO, 'configs', d, 'metafile.yml')), d


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_model_builds(path):
    cfg = Config.fromfile(path)
    if 'in1k' in path:  # ResNet-50: build only, no forward
        MODELS.build(cfg.model)
        return
    model = MODELS.build(cfg.model)
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 32, 32), mode='tensor')
    assert out.shape == (2, cfg.model.head.num_classes)
    assert {h['type'] for h in cfg.custom_hooks} >= {'ClassCountsHook'}


def test_cifar_schedule_is_the_ldam_drw_reference():
    cfg = Config.fromfile(
        osp.join(
            REPO,
            'configs/ce/ce_resnet32_1xb128-steplr-200e_cifar100-lt-if100.py'))
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=cfg.optim_wrapper.optimizer.lr)
    scheds = []
    for s in cfg.param_scheduler:
        s = dict(s)
        cls = {'LinearLR': LinearLR, 'MultiStepLR': MultiStepLR}[s.pop('type')]
        scheds.append(cls(opt, **s))
    for epoch in range(200):
        e = epoch + 1  # the reference's adjust_learning_rate
        ref = 0.1 * e / 5 if e <= 5 else 0.1 * 1e-4 if e > 180 else \
            0.1 * 1e-2 if e > 160 else 0.1
        assert abs(opt.param_groups[0]['lr'] - ref) < 1e-12, epoch
        opt.step()
        for s in scheds:
            s.step()
    assert cfg.optim_wrapper.optimizer.weight_decay == 2e-4
    assert cfg.train_dataloader.batch_size == 128
    ldam = Config.fromfile(
        osp.join(
            REPO, 'configs/ldam_drw/'
            'ldam-drw_resnet32_1xb128-steplr-200e_cifar100-lt-if100.py'))
    drw = [h for h in ldam.custom_hooks if h['type'] == 'DRWHook'][0]
    assert drw['start_epoch'] == 160 and drw['beta'] == 0.9999


@pytest.mark.parametrize('path,frozen', [
    ('configs/crt/crt_resnet32_ce-pre_1xb32-cb-coslr-10e_digits-lt-if50.py',
     3),
    ('configs/crt/crt_resnet32_ce-pre_1xb128-cb-coslr-10e_cifar100-lt-if100'
     '.py', 3),
    ('configs/crt/crt_resnet50_ce-pre_8xb32-cb-coslr-10e_imagenet-lt.py', 4),
])
def test_crt_freezes_backbone_and_rebalances(path, frozen):
    cfg = Config.fromfile(osp.join(REPO, path))
    assert cfg.train_dataloader.sampler.type == 'ClassAwareSampler'
    assert cfg.model.backbone.frozen_stages == frozen
    assert cfg.model.backbone.norm_eval is True
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained' and init.prefix == 'backbone.'
    assert cfg.train_cfg.max_epochs == 10
    model = MODELS.build(cfg.model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {'head.fc.weight', 'head.fc.bias'}
