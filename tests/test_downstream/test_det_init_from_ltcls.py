"""The detection configs' init_cfg copies an ltcls backbone into mmdet's
detector exactly: a raw stage-1 Runner checkpoint (HistoryBuffer, numpy in
the message hub, momentum encoder, queue) through mmdet's Pretrained init
with prefix 'backbone.' (what the launchers pass), and an extracted bare
backbone with prefix None (PREFIX=none)."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import det_data

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ROOT = osp.join(REPO, 'configs', 'benchmarks', 'mmdetection')


def _extract_tool():
    path = osp.join(REPO, 'tools', 'model_converters', 'extract_backbone.py')
    spec = importlib.util.spec_from_file_location('extract_backbone', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def stage1_ckpt(tmp_path_factory):
    model = det_data.stage1_model()
    state = model.state_dict()
    path = str(tmp_path_factory.mktemp('ltcls') / 'kcl_stage1.pth')
    torch.save(det_data.runner_style_checkpoint(state), path)
    return state, path


def _build(rel, overrides, checkpoint, prefix, c4):
    from mmdet.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, rel))
    cfg.merge_from_dict(dict(model=overrides))
    init = dict(type='Pretrained', checkpoint=checkpoint, prefix=prefix)
    cfg.model.backbone.init_cfg = init
    if c4:
        cfg.model.roi_head.shared_head.init_cfg = init
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = MODELS.build(cfg.model)
        detector.init_weights()
    return detector


def _check_equal(module_state, source, prefix):
    n = 0
    for name, value in module_state.items():
        src = source[prefix + name]
        assert src.shape == value.shape and torch.equal(src, value), name
        n += 1
    return n


def test_c4_from_raw_stage1_runner_checkpoint(stage1_ckpt):
    state, path = stage1_ckpt
    det = _build('voc0712/faster-rcnn_r50-c4_ms-24k_voc0712.py',
                 det_data.R18_C4, path, 'backbone.', c4=True)
    # res2-res4 (+ stem) from the online backbone, not the momentum copy
    n = _check_equal(det.backbone.state_dict(), state, 'backbone.')
    assert n == sum(
        k.startswith('backbone.') and not k.startswith('backbone.layer4')
        for k in state)
    # res5 of the RoI head from the same backbone
    head = det.roi_head.shared_head.state_dict()
    layer4 = {k: v for k, v in head.items() if k.startswith('layer4.')}
    assert _check_equal(layer4, state, 'backbone.') == sum(
        k.startswith('backbone.layer4.') for k in state)
    # MoCo's extra BN after res5 is new: default initialisation
    norm = det.roi_head.shared_head.norm
    assert torch.equal(norm.weight, torch.ones(512))
    assert torch.equal(norm.bias, torch.zeros(512))
    assert torch.equal(norm.running_var, torch.ones(512))
    assert set(head) - set(layer4) == {
        'norm.weight', 'norm.bias', 'norm.running_mean', 'norm.running_var',
        'norm.num_batches_tracked'
    }


def test_fpn_from_extracted_bare_backbone(stage1_ckpt, tmp_path):
    state, path = stage1_ckpt
    bare = str(tmp_path / 'bare.pth')
    _extract_tool().convert(path, bare)
    det = _build('coco/mask-rcnn_r50_fpn_ms-1x_coco.py', det_data.R18_FPN,
                 bare, None, c4=False)
    n = _check_equal(det.backbone.state_dict(), state, 'backbone.')
    assert n == sum(k.startswith('backbone.') for k in state)


def test_bare_backbone_with_backbone_prefix_is_refused(stage1_ckpt,
                                                      tmp_path):
    """A bare extracted file under the launchers' default prefix fails
    loudly instead of leaving a randomly initialised backbone."""
    _, path = stage1_ckpt
    bare = str(tmp_path / 'bare.pth')
    _extract_tool().convert(path, bare)
    with pytest.raises(AssertionError, match='backbone. is not in the '
                       'pretrained model'):
        _build('coco/faster-rcnn_r50_fpn_ms-1x_coco.py', det_data.R18_FPN,
               bare, 'backbone.', c4=False)
