"""DeepResNet: mmpretrain's ResNet plus depth 200 (PaCo's full-ImageNet
ResNet-200). Forward equality with torchvision's ResNet(Bottleneck,
(3, 24, 36, 3)) is in tests/test_tools/test_paco_to_ltcls.py."""
import pytest
from mmpretrain.models.backbones import ResNet
from torchvision.models.resnet import Bottleneck as TVBottleneck
from torchvision.models.resnet import ResNet as TVResNet

from ltcls.registry import MODELS


def test_depth_200_has_the_torchvision_names_and_shapes():
    ours = MODELS.build(dict(type='DeepResNet', depth=200,
                             out_indices=(3, )))
    assert [len(getattr(ours, f'layer{i}')) for i in (1, 2, 3, 4)] == \
        [3, 24, 36, 3]
    tv = TVResNet(TVBottleneck, [3, 24, 36, 3])
    tv_state = {k: v.shape for k, v in tv.state_dict().items()
                if not k.startswith('fc.')}
    assert {k: v.shape for k, v in ours.state_dict().items()} == tv_state


def test_other_depths_are_mmpretrain_resnet():
    ours = MODELS.build(dict(type='DeepResNet', depth=50))
    ref = ResNet(depth=50)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in ref.state_dict().items()}
    with pytest.raises(KeyError, match='invalid depth 77'):
        MODELS.build(dict(type='DeepResNet', depth=77))
    assert 200 not in ResNet.arch_settings  # mmpretrain's stays untouched
