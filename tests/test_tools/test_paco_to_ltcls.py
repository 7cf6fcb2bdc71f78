"""tools/model_converters/paco_to_ltcls.py (and the shared core
ltcls/utils/official_checkpoint.py): every released PaCo architecture gives
the logits of an independent official-layout reference model; errors for
unknown / missing keys, wrong shapes, collisions and unsafe pickles."""
import argparse
import os.path as osp
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools', 'model_converters'))
import paco_to_ltcls  # noqa: E402
from _official_models import (PaCoReference, convert_and_compare,  # noqa
                              official_checkpoint, randomize_)

from ltcls.utils import UnsafeCheckpointError  # noqa: E402
from ltcls.utils.checkpoint import check_checkpoint_matches  # noqa: E402
from ltcls.utils.official_checkpoint import (ConversionError,  # noqa: E402
                                             build_model, convert_checkpoint)
from ltcls.utils.training_state import is_training_only_key  # noqa: E402

CFG = 'configs/paco/{}_released.py'
R50_LT = CFG.format('paco_resnet50_4xb32-400e_imagenet-lt')

# (config stem, torchvision arch, num classes, has linear_k)
CASES = [
    ('paco_resnet50_4xb32-400e_imagenet-lt', 'resnet50', 1000, True),
    ('paco_resnext50-32x4d_4xb32-400e_imagenet-lt', 'resnext50_32x4d', 1000,
     True),
    ('paco_resnext101-32x4d_4xb32-400e_imagenet-lt', 'resnext101_32x4d',
     1000, True),
    ('paco_resnet50_8xb32-400e_in1k', 'resnet50', 1000, False),
    ('paco_resnet101_8xb32-400e_in1k', 'resnet101', 1000, False),
    ('paco_resnet200_8xb32-400e_in1k', 'resnet200', 1000, False),
]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize('stem,arch,num_classes,linear_k', CASES,
                         ids=[c[0] for c in CASES])
def test_logits_equal_official_reference(tmp_path, stem, arch, num_classes,
                                         linear_k):
    torch.manual_seed(0)
    ref = PaCoReference(arch, num_classes, linear_k=linear_k)
    n_backbone = sum(1 for k in ref.state_dict()
                     if k.startswith('encoder_q.')
                     and not k.startswith('encoder_q.fc.'))
    out, official = convert_and_compare(tmp_path, paco_to_ltcls.main,
                                        CFG.format(stem), ref, arch)
    meta = out['meta']
    # Linear (w, b), BN1d (w, b, mean, var, count), Linear (w, b)
    assert meta['mapped'] == dict(backbone=n_backbone, head=2, projector=9)
    assert meta['checked_not_kept'] == dict(projector=9)
    dropped = {'momentum encoder': n_backbone + 9, 'queue': 3}
    if linear_k:
        dropped['momentum classifier'] = 2
    assert meta['dropped_official'] == dropped
    assert meta['num_tensors'] == n_backbone + 2
    assert meta['source_epoch'] == 400 and meta['source_arch'] == arch
    assert meta['source_fields'] == ['acc', 'arch', 'epoch', 'optimizer',
                                     'state_dict']


def test_tools_test_accepts_the_converted_checkpoint(tmp_path):
    """What tools/test.py checks before testing: the checkpoint loads into
    the model of the released config, training-only parts aside."""
    torch.manual_seed(0)
    ref = randomize_(PaCoReference('resnet50', 1000),
                     torch.Generator().manual_seed(1))
    src, dst = tmp_path / 'o.pth.tar', tmp_path / 'c.pth'
    torch.save(official_checkpoint(ref, 'resnet50'), src)
    paco_to_ltcls.main([R50_LT, str(src), str(dst)])
    model, _ = build_model(R50_LT)
    check_checkpoint_matches(
        model, str(dst), ignore_missing=is_training_only_key)
    state = torch.load(str(dst), weights_only=True)['state_dict']
    torch.testing.assert_close(state['head.fc.weight'],
                               ref.linear.weight.detach())
    torch.testing.assert_close(
        state['backbone.layer4.2.bn3.running_var'],
        ref.encoder_q.layer4[2].bn3.running_var)


# ---------------------------------------------------------------- errors


@pytest.fixture(scope='module')
def r50():
    """The R50 ImageNet-LT released model and a small official state (no
    momentum encoder: the errors are about the mapped part)."""
    import os
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        model, _ = build_model(R50_LT)
    finally:
        os.chdir(cwd)
    torch.manual_seed(0)
    ref = PaCoReference('resnet50', 1000, linear_k=False)
    ckpt = official_checkpoint(ref, 'resnet50')
    ckpt['state_dict'] = {
        k: v
        for k, v in ckpt['state_dict'].items()
        if not k.startswith('module.encoder_k.')
    }
    return model, ckpt


def _convert(tmp_path, model, ckpt, rules=paco_to_ltcls.PACO_RULES):
    src = str(tmp_path / 'o.pth.tar')
    torch.save(ckpt, src)
    return convert_checkpoint(
        src, R50_LT, str(tmp_path / 'c.pth'), rules, 'test', model=model)


def _edit(ckpt, drop=(), add=None):
    state = {k: v for k, v in ckpt['state_dict'].items() if k not in drop}
    state.update(add or {})
    return dict(ckpt, state_dict=state)


def test_baseline_without_momentum_encoder_converts(tmp_path, r50):
    model, ckpt = r50
    out = _convert(tmp_path, model, ckpt)
    assert 'momentum encoder' not in out['meta']['dropped_official']


def test_unknown_keys_are_listed(tmp_path, r50):
    model, ckpt = r50
    bad = _edit(ckpt, add={
        'module.extra.weight': torch.zeros(3),
        'module.encoder_q_typo.conv1.weight': torch.zeros(3)
    })
    with pytest.raises(ConversionError) as e:
        _convert(tmp_path, model, bad)
    msg = str(e.value)
    assert '2 key(s)' in msg and 'extra.weight' in msg \
        and 'encoder_q_typo.conv1.weight' in msg
    assert not (tmp_path / 'c.pth').exists()


def test_missing_backbone_and_projector_keys_are_listed(tmp_path, r50):
    model, ckpt = r50
    bad = _edit(
        ckpt,
        drop=('module.encoder_q.layer1.0.conv1.weight',
              'module.encoder_q.fc.3.bias', 'module.linear.bias'))
    with pytest.raises(ConversionError) as e:
        _convert(tmp_path, model, bad)
    msg = str(e.value)
    assert '3 model key(s) the checkpoint does not provide' in msg
    for key in ('backbone.layer1.0.conv1.weight', 'projector.mlp.3.bias',
                'head.fc.bias'):
        assert key in msg


def test_wrong_shape_names_both_shapes(tmp_path, r50):
    model, ckpt = r50
    bad = _edit(ckpt, add={'module.linear.weight': torch.zeros(10, 2048),
                           'module.linear.bias': torch.zeros(10)})
    with pytest.raises(ConversionError) as e:
        _convert(tmp_path, model, bad)
    msg = str(e.value)
    assert 'head.fc.weight (official linear.weight): (10, 2048) vs model ' \
        '(1000, 2048)' in msg
    assert 'head.fc.bias' in msg


def test_wrong_architecture_is_reported(tmp_path, r50):
    """A ResNeXt-50 file with the ResNet-50 config: conv2 shapes differ."""
    model, _ = r50
    torch.manual_seed(0)
    ckpt = official_checkpoint(
        PaCoReference('resnext50_32x4d', 1000, linear_k=False), 'x50')
    with pytest.raises(ConversionError, match='shape mismatch'):
        _convert(tmp_path, model, ckpt)


def test_wrapper_collision(tmp_path, r50):
    model, ckpt = r50
    bad = _edit(ckpt, add={'linear.bias': torch.zeros(1000)})
    with pytest.raises(ConversionError, match='same weight'):
        _convert(tmp_path, model, bad)


def test_unsafe_pickle_is_refused(tmp_path, r50):
    model, ckpt = r50
    bad = dict(ckpt, args=argparse.Namespace(lr=0.02))
    with pytest.raises(UnsafeCheckpointError, match='argparse.Namespace'):
        _convert(tmp_path, model, bad)


def test_not_a_state_dict(tmp_path, r50):
    model, _ = r50
    with pytest.raises(ConversionError, match='not tensors'):
        _convert(tmp_path, model, {'state_dict': {'a': 1}})
    with pytest.raises(FileNotFoundError):
        convert_checkpoint(str(tmp_path / 'nope.pth'), R50_LT,
                           str(tmp_path / 'c.pth'), paco_to_ltcls.PACO_RULES,
                           'test', model=model)


def test_tools_test_end_to_end_reproduces_the_official_predictions(tmp_path):
    """tools/test.py with the released config and the converted file, on a
    4-image stand-in of ImageNet-LT: labels are chosen so that the official
    model (torchvision transform + official-layout reference) gets exactly
    images 0 and 1 right (its argmax) and 2 and 3 wrong (its argmin), so
    top-1 must be 50.0 if preprocessing, weights and head all match."""
    import json

    import numpy as np
    from PIL import Image
    from torchvision import transforms

    from _tools_testutils import run_tool

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(3)
    ref = randomize_(PaCoReference('resnet50', 1000), g)
    from _official_models import calibrate_bn_
    calibrate_bn_(ref, torch.randn(4, 3, 224, 224, generator=g))
    src, dst = tmp_path / 'o.pth.tar', tmp_path / 'c.pth'
    torch.save(official_checkpoint(ref, 'resnet50'), src)
    paco_to_ltcls.main([R50_LT, str(src), str(dst)])

    root = tmp_path / 'ImageNet_LT'
    (root / 'val').mkdir(parents=True)
    rng = np.random.default_rng(0)
    official_tf = transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    ])
    lines = []
    for i, (h, w) in enumerate([(300, 400), (256, 256), (500, 320),
                                (280, 290)]):
        img = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
        Image.fromarray(img).resize((w, h), Image.BILINEAR).save(
            root / 'val' / f'{i}.jpg', quality=92)
        with torch.no_grad():
            logits = ref(official_tf(
                Image.open(root / 'val' / f'{i}.jpg').convert('RGB'))[None])
        label = int(logits.argmax()) if i < 2 else int(logits.argmin())
        lines.append(f'val/{i}.jpg {label}')
    (root / 'ImageNet_LT_test.txt').write_text('\n'.join(lines) + '\n')
    # the class counts (ClassCountsHook, many / medium / few) need every
    # class in the train list; its images are never read in a test run
    (root / 'ImageNet_LT_train.txt').write_text(''.join(
        f'train/{c}.jpg {c}\n' for c in range(1000)))
    out = tmp_path / 'metrics.json'
    opts = [
        f'{k}.dataset.data_root={root}'
        for k in ('train_dataloader', 'test_dataloader')
    ] + [
        'test_dataloader.batch_size=2', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        # 4 test images of 1000 classes
        'test_dataloader.dataset.allow_empty_classes=True',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False'
    ]
    run_tool([
        'tools/test.py', R50_LT,
        str(dst), '--work-dir',
        str(tmp_path / 'work'), '--out-metrics',
        str(out), '--cfg-options'
    ] + opts, cwd=REPO)
    metrics = json.loads(out.read_text())
    top1 = [v for k, v in metrics.items() if k.endswith('top1')]
    assert top1 == [50.0], metrics


def test_bare_state_dict_without_wrapper_gives_the_same_file(tmp_path, r50):
    """A bare state dict (no ``state_dict`` field, no ``module.``) converts
    to the same tensors as the DDP-saved file."""
    model, ckpt = r50
    full = _convert(tmp_path, model, ckpt)['state_dict']
    bare = {k[len('module.'):]: v for k, v in ckpt['state_dict'].items()}
    out = _convert(tmp_path, model, bare)
    assert out['meta']['source_fields'] == []
    assert list(out['state_dict']) == list(full)
    for key, value in full.items():
        assert torch.equal(out['state_dict'][key], value), key
