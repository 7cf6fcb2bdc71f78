# Copyright (c) ltcls contributors. All rights reserved.
"""PaCo's baseline configs (spec_paco.md §2.9, Tables 1, 7, 13, 14) differ
from the PaCo config of the row they are compared with only in the loss."""
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DAGGER = 'paco-dagger_resnet50_4xb32-400e_imagenet-lt.py'
X50 = 'paco_resnext50-32x4d_4xb32-400e_imagenet-lt.py'

# config -> (PaCo config it is compared with, expected loss options)
CASES = {
    'multitask_resnet50_4xb32-400e_imagenet-lt.py':
    (DAGGER, dict(cls_loss='ce', supcon_weight=0.05, temperature=0.2)),
    'multitask-reweight_resnet50_4xb32-400e_imagenet-lt.py':
    (DAGGER, dict(cls_loss='ce', reweight=True, reweight_beta=0.999)),
    'multitask-contrast-bs_resnet50_4xb32-400e_imagenet-lt.py':
    (DAGGER, dict(cls_loss='ce', contrastive_log_prior=True)),
    'multitask-bs-reweight_resnext50-32x4d_4xb32-400e_imagenet-lt.py':
    (X50,
     dict(
         cls_loss='balanced_softmax',
         supcon_weight=0.05,
         reweight=True,
         temperature=0.07)),
    'multitask_resnet50_8xb32-400e_in1k.py':
    ('paco_resnet50_8xb32-400e_in1k.py',
     dict(cls_loss='ce', supcon_weight=0.05)),
    'multitask_resnet32_1xb32-coslr-40e_digits-lt-if50.py':
    ('paco_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
     dict(cls_loss='balanced_softmax', reweight=True, temperature=0.05)),
    'supcon_two-stage_resnet50_4xb32-400e_imagenet-lt.py':
    (DAGGER, dict(cls_weight=0.0, supcon_weight=1.0, temperature=0.2)),
}
# stage 1 of the two-stage SupCon has no validation (untrained head)
NO_VAL = ('val_dataloader', 'val_evaluator', 'val_cfg')


def _load(name):
    return Config.fromfile(osp.join(REPO, 'configs', 'paco', name))


@pytest.mark.parametrize('name', sorted(CASES))
def test_only_the_loss_differs(name):
    base_name, expected = CASES[name]
    cfg, base = _load(name).to_dict(), _load(base_name).to_dict()
    loss = cfg['model'].pop('loss')
    assert loss['type'] == 'MultiTaskContrastiveLoss'
    for key, value in expected.items():
        assert loss[key] == value, (key, loss)
    assert loss.get('gather_bank', False) is False  # per-GPU bank, as PaCo
    base['model'].pop('loss')
    assert cfg['model'] == base['model']
    skip = NO_VAL if name.startswith('supcon_two-stage') else ()
    if skip:
        assert all(cfg[k] is None for k in skip)
    keys = (set(cfg) | set(base)) - {'model', *skip}
    for key in sorted(keys):
        assert cfg.get(key) == base.get(key), key
