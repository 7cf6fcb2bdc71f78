"""tools/model_converters/gpaco_to_ltcls.py: every released GPaCo
architecture gives the logits of an independent official-layout reference
model; a PaCo file (momentum encoder) is refused with a pointer to
paco_to_ltcls.py."""
import os.path as osp
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools', 'model_converters'))
import gpaco_to_ltcls  # noqa: E402
from _official_models import (GPaCoReference, PaCoReference,  # noqa: E402
                              convert_and_compare, official_checkpoint)

from ltcls.utils.official_checkpoint import ConversionError  # noqa: E402

CFG = 'configs/paco/{}_released.py'

# (config stem, torchvision arch, num classes)
CASES = [
    ('gpaco_resnet50_4xb32-400e_imagenet-lt', 'resnet50', 1000),
    ('gpaco_resnext50-32x4d_4xb32-400e_imagenet-lt', 'resnext50_32x4d',
     1000),
    ('gpaco_resnext101-32x4d_4xb32-400e_imagenet-lt', 'resnext101_32x4d',
     1000),
    ('gpaco_resnet50_8xb16-400e_inat2018', 'resnet50', 8142),
    ('gpaco_resnet152-in1k-pre_4xb32-30e_places-lt', 'resnet152', 365),
    ('gpaco_resnet50_8xb64-400e_in1k', 'resnet50', 1000),
]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize('stem,arch,num_classes', CASES,
                         ids=[c[0] for c in CASES])
def test_logits_equal_official_reference(tmp_path, stem, arch, num_classes):
    torch.manual_seed(0)
    ref = GPaCoReference(arch, num_classes)
    n_backbone = sum(1 for k in ref.state_dict()
                     if k.startswith('encoder_q.')
                     and not k.startswith('encoder_q.fc.'))
    out, _ = convert_and_compare(tmp_path, gpaco_to_ltcls.main,
                                 CFG.format(stem), ref, arch)
    meta = out['meta']
    # three Linear layers (w, b), no BN
    assert meta['mapped'] == dict(backbone=n_backbone, head=2, projector=6)
    assert meta['checked_not_kept'] == dict(projector=6)
    assert meta['dropped_official'] == dict(queue=3)
    assert meta['num_tensors'] == n_backbone + 2


def test_paco_file_is_refused_with_a_hint(tmp_path):
    torch.manual_seed(0)
    src = tmp_path / 'paco.pth.tar'
    torch.save(
        official_checkpoint(PaCoReference('resnet50', 1000), 'resnet50'),
        src)
    with pytest.raises(ConversionError) as e:
        gpaco_to_ltcls.main([
            CFG.format('gpaco_resnet50_4xb32-400e_imagenet-lt'),
            str(src),
            str(tmp_path / 'c.pth')
        ])
    msg = str(e.value)
    # the momentum encoder (with its MLP) and linear_k: all counted
    n_k = sum(1 for k in PaCoReference('resnet50', 10).state_dict()
              if k.startswith(('encoder_k.', 'linear_k.')))
    assert f'{n_k} key(s)' in msg and 'encoder_k.conv1.weight' in msg
    assert 'paco_to_ltcls.py' in msg
