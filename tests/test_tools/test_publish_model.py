"""tools/model_converters/publish_model.py: a real quickstart checkpoint
round trip (hash, tensors, tools/test.py), contrastive models' training
state, errors."""
import glob
import hashlib
import json
import os.path as osp
import pickle
import re
import sys

import pytest
import torch
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools', 'model_converters'))
import publish_model  # noqa: E402
from _tools_testutils import QUICKSTART_CFG, run_tool  # noqa: E402

DIGITS_CONFIGS = [
    'configs/paco/paco_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
    'configs/rescom/rescom_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
    'configs/kcl/kcl_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
    'configs/kcl/fcl_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
    'configs/sbcl/sbcl_resnet32_1xb32-coslr-20e_digits-lt-if50.py',
    'configs/hybrid/hybrid-sc_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
    'configs/hybrid/hybrid-psc_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
    'configs/ldam_drw/ldam-drw_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
    QUICKSTART_CFG,
]
INFERENCE_PREFIXES = ('backbone.', 'neck.', 'head.', 'data_preprocessor.')


def _sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _assert_plain(value, where='meta'):
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            _assert_plain(v, f'{where}[{i}]')
        return
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), (where, k)
            _assert_plain(v, f'{where}.{k}')
        return
    raise AssertionError(f'{where} is a {type(value).__name__}')


def _build(config):
    from ltcls.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, config))
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def test_publish_real_checkpoint(quickstart_run, tmp_path, capsys):
    src = quickstart_run['checkpoint']
    source = torch.load(src, map_location='cpu', weights_only=False)
    assert {'optimizer', 'message_hub', 'param_schedulers'} <= set(source)

    final = publish_model.main([src, str(tmp_path / 'r32_digits.pth')])
    out = capsys.readouterr().out
    m = re.fullmatch(r'r32_digits-([0-9a-f]{8})\.pth', osp.basename(final))
    assert m, final
    assert osp.dirname(final) == str(tmp_path)
    # the suffix is the real sha256 of the published file
    assert m.group(1) == _sha256(final)[:8]
    assert f'sha256: {_sha256(final)}' in out
    assert glob.glob(str(tmp_path / '*')) == [final]  # no temp file left

    # plain content: loads with weights_only and no allow-list
    pub = torch.load(final, map_location='cpu', weights_only=True)
    assert set(pub) == {'state_dict', 'meta'}
    _assert_plain(pub['meta'])
    meta = pub['meta']
    assert meta['dataset_meta']['classes'] == [str(i) for i in range(10)]
    assert meta['epoch'] == 1
    assert meta['dropped_weights'] == {}
    assert {'optimizer', 'message_hub',
            'param_schedulers'} <= set(meta['dropped_fields'])
    # the quickstart ImageClassifier has no training-only weights
    assert list(pub['state_dict']) == list(source['state_dict'])
    for k, v in source['state_dict'].items():
        assert torch.equal(pub['state_dict'][k], v), k
    assert 'dropped training-only weights: none' in out
    assert 'optimizer' in out and 'message_hub' in out


def test_published_checkpoint_loads_with_tools_test(quickstart_run, tmp_path,
                                                    repo_root):
    final, _, _ = publish_model.process_checkpoint(
        quickstart_run['checkpoint'], str(tmp_path / 'pub.pth'))
    out = str(tmp_path / 'metrics.json')
    proc = run_tool([
        'tools/test.py', QUICKSTART_CFG, final, '--work-dir',
        str(tmp_path / 'work'), '--out-metrics', out, '--cfg-options',
        'test_dataloader.dataset.indices=100'
    ], repo_root)
    metrics = json.load(open(out))
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
    assert 'does not match' not in proc.stderr


@pytest.mark.parametrize('config', DIGITS_CONFIGS)
def test_training_only_state_of_every_method(config):
    """What is dropped is exactly what a plain ImageClassifier lacks, and
    agrees with the classifier's own classifier_state_dict."""
    from ltcls.utils.training_state import split_training_state
    model = _build(config)
    sd = model.state_dict()
    kept, dropped = split_training_state(sd)
    assert all(k.startswith(INFERENCE_PREFIXES) for k in kept), \
        [k for k in kept if not k.startswith(INFERENCE_PREFIXES)]
    assert all(k in kept for k in sd if k.startswith(INFERENCE_PREFIXES))
    if hasattr(model, 'classifier_state_dict'):
        assert list(kept) == list(model.classifier_state_dict(sd))
    if model.with_head:  # e.g. PaCo's centers are the head's fc
        assert 'head.fc.weight' in kept


def test_prefixes_cover_the_classifiers_own():
    from ltcls.models.classifiers import contrastive_classifier, hybrid, sbcl
    from ltcls.utils import training_state

    # one list: the classifiers no longer keep copies of their own
    assert not hasattr(contrastive_classifier, 'TRAINING_ONLY_PREFIXES')
    assert not hasattr(sbcl, 'SUBCLASS_STATE_KEYS')
    assert 'classifier_state_dict' not in vars(hybrid.HybridClassifier)
    assert {'projector.', 'encoder_k.', 'queue.', 'loss_module.',
            'warmup_loss_module.'} <= set(training_state.TRAINING_ONLY_PREFIXES)
    # the loss attributes of older checkpoints still strip
    assert {'contrastive_loss.', 'sbcl_loss.',
            'warmup_loss.'} <= set(training_state.TRAINING_ONLY_PREFIXES)
    assert {'subclass_labels', 'class_tau2',
            'cluster_ready'} <= set(training_state.TRAINING_ONLY_KEYS)
    assert training_state.training_only_group('module.queue.keys') == 'queue'
    assert not training_state.is_training_only_key('head.fc.weight')
    assert not training_state.is_training_only_key('backbone.queue.x')


def test_publish_paco_drops_training_state(tmp_path, capsys):
    from ltcls.registry import MODELS
    from ltcls.utils.checkpoint import (CheckpointMismatchError,
                                        check_checkpoint_matches)
    from ltcls.utils.training_state import is_training_only_key
    model = _build(DIGITS_CONFIGS[0])
    with torch.no_grad():
        model.queue.keys.normal_()
        model.queue.labels.random_(0, 10)
    sd = model.state_dict()
    src = tmp_path / 'paco.pth'
    torch.save(
        dict(
            state_dict=sd,
            meta=dict(epoch=3, iter=30, seed=0, cfg='model = dict()'),
            optimizer=dict(state={}, param_groups=[dict(lr=0.1)]),
            message_hub=dict(log_scalars={}),
            param_schedulers=[dict(last_epoch=3)]), src)

    final = publish_model.main([str(src), str(tmp_path / 'out' / 'paco')])
    out = capsys.readouterr().out
    assert re.fullmatch(r'paco-[0-9a-f]{8}\.pth', osp.basename(final))
    assert osp.basename(final)[5:13] == _sha256(final)[:8]
    pub = torch.load(final, map_location='cpu', weights_only=True)
    state = pub['state_dict']
    for prefix in ('projector.', 'encoder_k.', 'queue.', 'loss_module.'):
        assert not any(k.startswith(prefix) for k in state), prefix
    assert 'head.fc.weight' in state and 'head.fc.bias' in state
    for k, v in state.items():
        assert torch.equal(v, sd[k]), k
    assert set(state) == {k for k in sd if not is_training_only_key(k)}
    meta = pub['meta']
    _assert_plain(meta)
    assert 'cfg' not in meta and meta['epoch'] == 3
    assert meta['dropped_weights']['encoder_k'] == sum(
        k.startswith('encoder_k.') for k in sd)
    assert set(meta['dropped_weights']) >= {'projector', 'encoder_k', 'queue'}
    for word in ('projector.*', 'encoder_k.*', 'queue.*', 'optimizer',
                 'message_hub', 'param_schedulers'):
        assert word in out, word

    # loads strictly into the plain ImageClassifier of the same network
    plain = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet32CIFAR', depth=32),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=64)))
    plain.load_state_dict(state, strict=True)
    # tools/test.py's check: training-only keys may be missing, no others
    check_checkpoint_matches(model, final, ignore_missing=is_training_only_key)
    with pytest.raises(CheckpointMismatchError, match='missing key'):
        check_checkpoint_matches(model, final)
    # and predictions equal the training model's
    model.eval()
    plain.eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(
            model.predict(x)[0].pred_score,
            plain.predict(x)[0].pred_score)

    # --keep-training-state keeps everything
    final2 = publish_model.main(
        [str(src),
         str(tmp_path / 'full.pth'), '--keep-training-state'])
    pub2 = torch.load(final2, map_location='cpu', weights_only=True)
    assert list(pub2['state_dict']) == list(sd)
    assert pub2['meta']['training_state_kept'] is True


def test_ddp_prefix_is_removed(tmp_path):
    sd = {
        'module.backbone.w': torch.ones(2),
        'module.queue.keys': torch.ones(3)
    }
    src = tmp_path / 'ddp.pth'
    torch.save({'state_dict': sd}, src)
    final, out, sha = publish_model.process_checkpoint(
        str(src), str(tmp_path / 'o'))
    assert list(out['state_dict']) == ['backbone.w']
    assert out['meta']['dropped_weights'] == {'queue': 1}
    assert final.endswith(f'o-{sha[:8]}.pth')


def test_bare_state_dict_is_accepted(tmp_path):
    src = tmp_path / 'bare.pth'
    torch.save({'backbone.w': torch.arange(3.)}, src)
    _, out, _ = publish_model.process_checkpoint(
        str(src), str(tmp_path / 'b.pth'))
    assert torch.equal(out['state_dict']['backbone.w'], torch.arange(3.))
    assert out['meta']['dropped_fields'] == []


def test_missing_file_is_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='checkpoint not found: '):
        publish_model.main([str(tmp_path / 'nope.pth'), str(tmp_path / 'o')])


def test_checkpoint_without_state_dict_is_clear_error(tmp_path):
    src = tmp_path / 'opt_only.pth'
    torch.save({'meta': {'epoch': 1}, 'optimizer': {'state': {}}}, src)
    with pytest.raises(
            publish_model.NoStateDictError, match="has no 'state_dict'"):
        publish_model.main([str(src), str(tmp_path / 'pub.pth')])
    assert not glob.glob(str(tmp_path / 'pub*'))
    src2 = tmp_path / 'tensor.pth'
    torch.save(torch.zeros(2), src2)
    with pytest.raises(publish_model.NoStateDictError, match='not a '):
        publish_model.main([str(src2), str(tmp_path / 'o.pth')])


class _Evil:

    def __reduce__(self):
        return (print, ('unpickled!', ))


def test_refuses_arbitrary_pickles(tmp_path):
    from ltcls.utils import UnsafeCheckpointError
    src = tmp_path / 'evil.pth'
    torch.save({
        'state_dict': {
            'w': torch.ones(1)
        },
        'meta': _Evil()
    },
               src,
               pickle_module=pickle)
    with pytest.raises(UnsafeCheckpointError, match='weights_only=True'):
        publish_model.main([str(src), str(tmp_path / 'o.pth')])


def test_help():
    with pytest.raises(SystemExit) as e:
        publish_model.parse_args(['--help'])
    assert e.value.code == 0


# Run in a fresh interpreter that cannot import ltcls / mmengine /
# mmpretrain / mmcv: a published file must open with torch alone.
_TORCH_ONLY_LOAD = r'''
import importlib.abc, sys
BLOCKED = ('ltcls', 'mmengine', 'mmpretrain', 'mmcv')
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(f'{name} is blocked in this test')
sys.meta_path.insert(0, Block())
import torch
try:
    ckpt = torch.load(sys.argv[1], map_location='cpu', weights_only=True)
except Exception as e:
    print('FAILED', type(e).__name__, str(e).splitlines()[0])
    sys.exit(3)
assert not [m for m in sys.modules if m.split('.')[0] in BLOCKED]
sd = ckpt['state_dict']
assert all(isinstance(v, torch.Tensor) for v in sd.values())
print('OK', len(sd), sorted(ckpt), ckpt['meta']['dataset_meta']['classes'][:2])
'''


def _load_torch_only(path, tmp_path):
    import os
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    return subprocess.run([sys.executable, '-c', _TORCH_ONLY_LOAD, path],
                          cwd=str(tmp_path),
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=120)


def test_published_checkpoint_needs_nothing_but_torch(quickstart_run,
                                                      tmp_path):
    src = quickstart_run['checkpoint']
    final, out, _ = publish_model.process_checkpoint(
        src, str(tmp_path / 'pub.pth'))
    proc = _load_torch_only(final, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f'OK {len(out["state_dict"])} '
                                  "['meta', 'state_dict'] ['0', '1']"), \
        proc.stdout
    # the Runner checkpoint it came from does not (mmengine's HistoryBuffer
    # in the message hub): this is what publishing is for
    proc = _load_torch_only(src, tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert 'FAILED' in proc.stdout
