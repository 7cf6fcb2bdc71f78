"""tools/model_converters/extract_backbone.py: any ltcls checkpoint -> a
clean backbone state_dict that mmdet's and mmpretrain's ResNet load with no
missing / unexpected key, tensors equal to the source backbone."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from collections import OrderedDict

import pytest
import torch

import det_data  # tests/test_downstream/det_data.py

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'tools', 'model_converters', 'extract_backbone.py')


def _load_tool():
    spec = importlib.util.spec_from_file_location('extract_backbone', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


@pytest.fixture(scope='module')
def stage1():
    """(model state dict, path of a Runner-style checkpoint) of a stage-1
    ContrastiveClassifier with momentum encoder, queue, projector, head and
    extra training-only entries other ltcls methods have."""
    model = det_data.stage1_model()
    state = model.state_dict()
    extra = OrderedDict([
        # PaCo-style learnable class centres, a prototype buffer
        ('centers', torch.randn(4, 16)),
        ('prototypes.weight', torch.randn(4, 16)),
        # mmpretrain MoCo's momentum copy, an EMA copy of the backbone
        ('momentum_encoder.module.0.conv1.weight',
         state['backbone.conv1.weight'] + 1),
        ('ema_backbone.conv1.weight', state['backbone.conv1.weight'] + 2),
    ])
    return state, extra


def _write(tmp_path, name, ckpt):
    path = str(tmp_path / name)
    torch.save(ckpt, path)
    return path


def _source_backbone(state):
    return OrderedDict((k[len('backbone.'):], v) for k, v in state.items()
                       if k.startswith('backbone.'))


def _assert_same_tensors(got, expected):
    assert list(got) == list(expected)  # same names, same order
    for k, v in expected.items():
        assert got[k].dtype == v.dtype, k
        assert torch.equal(got[k], v), k


def test_stage1_runner_checkpoint_round_trip(tmp_path, stage1):
    state, extra = stage1
    src = _write(tmp_path, 'stage1.pth',
                 det_data.runner_style_checkpoint(state, extra))
    dst = str(tmp_path / 'out' / 'backbone.pth')
    tool.convert(src, dst)

    # the output is plain: loads with weights_only=True in a fresh process
    # that never imported ltcls (no allow-listed types needed)
    code = ('import torch, sys; c = torch.load(sys.argv[1], '
            'weights_only=True); print(len(c["state_dict"]), '
            'sorted(c))')
    proc = subprocess.run([sys.executable, '-c', code, dst],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ['120', "['meta',", "'state_dict']"]

    out = torch.load(dst, weights_only=True)
    expected = _source_backbone(state)
    _assert_same_tensors(out['state_dict'], expected)
    # the momentum copies really differ, so the equality above proves that
    # the online backbone was taken
    assert not torch.equal(state['encoder_k.module.0.conv1.weight'],
                           state['backbone.conv1.weight'])

    meta = out['meta']
    n_k = sum(k.startswith('encoder_k.') for k in state)
    assert meta['dropped'] == {
        'encoder_k': n_k,
        'queue': 3,
        'projector': 4,
        'head': 2,
        'centers': 1,
        'prototypes': 1,
        'momentum_encoder': 1,
        'ema_backbone': 1
    }
    assert meta['num_tensors'] == len(expected)
    assert meta['num_elements'] == sum(v.numel() for v in expected.values())
    assert meta['prefix'] == '' and meta['source'] == 'stage1.pth'
    assert meta['source_meta'] == dict(
        epoch=3, iter=30, seed=0, experiment_name='kcl_test',
        mmengine_version='0.10.7')
    assert len(meta['source_sha256']) == 64


def test_output_loads_strictly_into_mmdet_and_mmpretrain_resnet(
        tmp_path, stage1):
    from mmdet.models.backbones import ResNet as DetResNet
    from mmpretrain.models.backbones import ResNet as PretrainResNet
    state, _ = stage1
    src = _write(tmp_path, 'stage1.pth',
                 det_data.runner_style_checkpoint(state))
    dst = str(tmp_path / 'bare.pth')
    out = tool.convert(src, dst)['state_dict']
    expected = _source_backbone(state)
    for cls in (DetResNet, PretrainResNet):
        net = cls(depth=18)
        result = net.load_state_dict(out, strict=True)
        assert not result.missing_keys and not result.unexpected_keys
        _assert_same_tensors(OrderedDict(net.state_dict()), expected)


def test_prefix_option_loads_into_mmpretrain_image_classifier(
        tmp_path, stage1):
    from mmpretrain.registry import MODELS
    state, _ = stage1
    src = _write(tmp_path, 'stage1.pth',
                 det_data.runner_style_checkpoint(state))
    dst = str(tmp_path / 'prefixed.pth')
    out = tool.convert(src, dst, prefix='backbone.')
    assert all(k.startswith('backbone.') for k in out['state_dict'])
    assert out['meta']['prefix'] == 'backbone.'

    cfg = dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=18),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=512))
    clf = MODELS.build(cfg)
    result = clf.load_state_dict(out['state_dict'], strict=False)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == ['head.fc.bias', 'head.fc.weight']
    _assert_same_tensors(OrderedDict(clf.backbone.state_dict()),
                         _source_backbone(state))

    # and through init_cfg, the way stage-2 / probe configs load it
    cfg['backbone']['init_cfg'] = dict(
        type='Pretrained', checkpoint=dst, prefix='backbone.')
    clf = MODELS.build(cfg)
    clf.init_weights()
    _assert_same_tensors(OrderedDict(clf.backbone.state_dict()),
                         _source_backbone(state))


@pytest.mark.parametrize('layout', ['ddp', 'bare', 'ddp_bare'])
def test_wrapped_and_bare_state_dicts(tmp_path, stage1, layout):
    state, extra = stage1
    full = OrderedDict(state)
    full.update(extra)
    if layout.startswith('ddp'):
        full = OrderedDict(('module.' + k, v) for k, v in full.items())
    ckpt = full if layout.endswith('bare') else dict(
        state_dict=full, meta=dict(epoch=1))
    src = _write(tmp_path, f'{layout}.pth', ckpt)
    out = tool.convert(src, str(tmp_path / 'out.pth'))
    _assert_same_tensors(out['state_dict'], _source_backbone(state))
    assert 'encoder_k' in out['meta']['dropped']


def test_stage2_image_classifier_checkpoint(tmp_path):
    from mmpretrain.registry import MODELS
    clf = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead', num_classes=3, in_channels=512)))
    state = clf.state_dict()
    src = _write(tmp_path, 'stage2.pth',
                 det_data.runner_style_checkpoint(state))
    out = tool.convert(src, str(tmp_path / 'out.pth'))
    _assert_same_tensors(out['state_dict'], _source_backbone(state))
    assert out['meta']['dropped'] == {'head': 2}


def test_half_precision_backbone_is_kept_as_is(tmp_path, stage1):
    state, _ = stage1
    half = OrderedDict((k, v.half() if v.is_floating_point() else v)
                       for k, v in state.items())
    src = _write(tmp_path, 'half.pth', dict(state_dict=half))
    out = tool.convert(src, str(tmp_path / 'out.pth'))
    _assert_same_tensors(out['state_dict'], _source_backbone(half))


def test_refuses_checkpoint_without_backbone(tmp_path):
    ckpt = dict(
        state_dict=OrderedDict([
            ('head.fc.weight', torch.zeros(2, 4)),
            ('encoder_k.module.0.conv1.weight', torch.zeros(1)),
            ('queue.keys', torch.zeros(8, 4)),
        ]),
        meta=dict(epoch=1))
    src = _write(tmp_path, 'headonly.pth', ckpt)
    dst = str(tmp_path / 'out.pth')
    with pytest.raises(tool.NoBackboneError) as err:
        tool.convert(src, dst)
    msg = str(err.value)
    assert 'headonly.pth has no backbone' in msg
    assert "starts with 'backbone.'" in msg
    assert "['encoder_k', 'head', 'queue']" in msg
    assert not osp.exists(dst)

    # the command line fails with the same message and writes nothing
    proc = subprocess.run([sys.executable, SCRIPT, src, dst],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode != 0
    assert 'headonly.pth has no backbone' in proc.stderr
    assert not osp.exists(dst)


def test_refuses_bad_inputs(tmp_path, stage1):
    state, _ = stage1
    dst = str(tmp_path / 'out.pth')
    with pytest.raises(FileNotFoundError, match='checkpoint not found: '):
        tool.convert(str(tmp_path / 'missing.pth'), dst)

    # the same weight under `backbone.` and `module.backbone.`
    src = _write(
        tmp_path, 'mixed.pth',
        dict(state_dict=OrderedDict([
            ('backbone.conv1.weight', torch.zeros(1)),
            ('module.backbone.conv1.weight', torch.ones(1)),
        ])))
    with pytest.raises(ValueError, match='both give the backbone weight '
                       "'conv1.weight'"):
        tool.convert(src, dst)

    src = _write(tmp_path, 'notensors.pth',
                 dict(state_dict=dict(a=1, b='x')))
    with pytest.raises(ValueError, match='has no state_dict of tensors'):
        tool.convert(src, dst)

    src = _write(tmp_path, 'list.pth', [torch.zeros(1)])
    with pytest.raises(ValueError, match='holds a list, not a checkpoint'):
        tool.convert(src, dst)

    src = _write(tmp_path, 'same.pth', dict(state_dict=state))
    with pytest.raises(ValueError, match='refusing to overwrite the source'):
        tool.convert(src, src)

    with pytest.raises(ValueError, match='src_prefix must be a non-empty'):
        tool.extract_backbone(state, src_prefix='')


class _Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned > /tmp/ltcls_extract_pwned', ))


def test_never_unpickles_arbitrary_objects(tmp_path, stage1):
    from ltcls.utils import UnsafeCheckpointError
    state, _ = stage1
    src = _write(tmp_path, 'evil.pth',
                 dict(state_dict=state, payload=_Evil()))
    if osp.exists('/tmp/ltcls_extract_pwned'):
        os.remove('/tmp/ltcls_extract_pwned')
    with pytest.raises(UnsafeCheckpointError, match='Refusing to load'):
        tool.convert(src, str(tmp_path / 'out.pth'))
    assert not osp.exists('/tmp/ltcls_extract_pwned')


def test_src_prefix_selects_another_encoder(tmp_path, stage1):
    """--src-prefix reads a backbone stored elsewhere (here: explicitly the
    momentum encoder, which is otherwise always dropped)."""
    state, _ = stage1
    src = _write(tmp_path, 's.pth', dict(state_dict=state))
    out = tool.convert(
        src, str(tmp_path / 'k.pth'), src_prefix='encoder_k.module.0')
    expected = OrderedDict(
        (k[len('encoder_k.module.0.'):], v) for k, v in state.items()
        if k.startswith('encoder_k.module.0.'))
    _assert_same_tensors(out['state_dict'], expected)
    assert out['meta']['dropped']['backbone'] == 120
