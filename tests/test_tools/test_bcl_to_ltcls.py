"""tools/model_converters/bcl_to_ltcls.py: the released BCL ImageNet-LT
ResNeXt-50 layout gives the logits (30 * cosine) of an independent
official-layout reference model; the transposed classifier and a plain
linear classifier (fc.bias) are handled explicitly."""
import os.path as osp
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools', 'model_converters'))
import bcl_to_ltcls  # noqa: E402
from _official_models import (BCLReference, convert_and_compare,  # noqa
                              official_checkpoint)

from ltcls.utils.official_checkpoint import ConversionError  # noqa: E402

CFG = 'configs/bcl/bcl_resnext50-32x4d_4xb64-90e_imagenet-lt_released.py'


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_logits_equal_official_reference(tmp_path):
    torch.manual_seed(0)
    ref = BCLReference('resnext50_32x4d', 1000)
    n_backbone = sum(1 for k in ref.state_dict() if k.startswith('encoder.'))
    out, official = convert_and_compare(tmp_path, bcl_to_ltcls.main, CFG,
                                        ref, 'resnext50')
    meta = out['meta']
    assert meta['mapped'] == dict(backbone=n_backbone, head=1, projector=9)
    assert meta['checked_not_kept'] == dict(projector=9)
    assert meta['dropped_official'] == {'center projector': 9}
    assert meta['num_tensors'] == n_backbone + 1
    torch.testing.assert_close(
        out['state_dict']['head.fc.weight'],
        official['state_dict']['module.fc.weight'].t())


def test_plain_linear_classifier_is_refused(tmp_path):
    torch.manual_seed(0)
    ckpt = official_checkpoint(BCLReference('resnext50_32x4d', 1000), 'x')
    ckpt['state_dict']['module.fc.bias'] = torch.zeros(1000)
    src = tmp_path / 'bcl.pth.tar'
    torch.save(ckpt, src)
    with pytest.raises(ConversionError) as e:
        bcl_to_ltcls.main([CFG, str(src), str(tmp_path / 'c.pth')])
    assert 'fc.bias' in str(e.value) and 'use_norm' in str(e.value)


def test_transposed_classifier_shape_is_checked(tmp_path):
    """A (C, D) weight (already transposed) is a shape error, not silently
    accepted."""
    torch.manual_seed(0)
    ckpt = official_checkpoint(BCLReference('resnext50_32x4d', 1000), 'x')
    w = ckpt['state_dict']['module.fc.weight']
    ckpt['state_dict']['module.fc.weight'] = w.t().contiguous()
    src = tmp_path / 'bcl.pth.tar'
    torch.save(ckpt, src)
    with pytest.raises(ConversionError, match=r'\(2048, 1000\) vs model '
                       r'\(1000, 2048\)'):
        bcl_to_ltcls.main([CFG, str(src), str(tmp_path / 'c.pth')])
