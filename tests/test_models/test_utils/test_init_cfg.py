"""complete_init_cfg: ``--cfg-options model.backbone.init_cfg.checkpoint=``
on a config without a backbone init_cfg loads that checkpoint's backbone
(it used to stop with a bare KeyError: 'type' in init_weights)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from ltcls.models.utils import complete_init_cfg
from ltcls.registry import MODELS

CE = 'configs/ce/ce_resnet32_1xb32-coslr-40e_digits-lt-if50.py'


def test_complete_init_cfg_rules():
    assert complete_init_cfg(None, 'B') is None
    kaiming = [dict(type='Kaiming', layer='Conv2d')]
    assert complete_init_cfg(kaiming, 'B') == kaiming
    assert complete_init_cfg(dict(checkpoint='a.pth'), 'B') == dict(
        type='Pretrained', checkpoint='a.pth', prefix='backbone.')
    assert complete_init_cfg(
        dict(checkpoint='a.pth', prefix=''), 'B')['prefix'] == ''
    with pytest.raises(ValueError, match='B: init_cfg .*has no "type"'):
        complete_init_cfg(dict(layer='Conv2d'), 'B')


def test_cfg_options_backbone_checkpoint_loads_the_backbone(
        tmp_path, repo_root):
    cfg = Config.fromfile(osp.join(repo_root, CE))
    torch.manual_seed(1)
    source = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'stage1.pth')
    torch.save(dict(state_dict=source.state_dict(), meta={}), ckpt)

    cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': ckpt})
    assert 'type' not in cfg.model.backbone.init_cfg  # what the CLI gives
    torch.manual_seed(2)
    model = MODELS.build(cfg.model)
    model.init_weights()
    for k, v in source.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[k], v), k
    # only the backbone: the head keeps its own initialisation
    assert not torch.equal(model.head.fc.weight, source.head.fc.weight)
