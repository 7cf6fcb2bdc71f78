"""weights_only loading stays on; mmengine checkpoint types are allowed,
anything else is refused with a clear error."""
import collections
import io
import json
import os
import os.path as osp
import re
import shutil
import sys
import types
from urllib.parse import urlparse

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

from ltcls.utils import (CorruptCheckpointError, UnsafeCheckpointError,
                         safe_load, safe_torch_load)
from ltcls.utils.safe_load import SAFE_SCHEMES


class Evil:
    """A pickled object that would run code on load."""

    def __reduce__(self):
        return (os.system, ('echo pwned > /tmp/ltcls_pwned',))


def test_env_does_not_disable_safe_loading():
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') in (None, '0')


def test_mmengine_types_load(tmp_path):
    hb = HistoryBuffer()
    hb.update(1.5)
    hb.update(np.float64(2.5))
    ckpt = {
        'meta': {'epoch': 3, 'iter': 30, 'dataset_meta': {'classes': ('a',)}},
        'state_dict': collections.OrderedDict(w=torch.ones(2)),
        'message_hub': {'log_scalars': {'train/loss': hb},
                        'runtime_info': {'x': np.float32(1.0),
                                         'arr': np.arange(3)}},
    }
    path = tmp_path / 'ok.pth'
    torch.save(ckpt, path)
    loaded = safe_torch_load(str(path))
    assert loaded['meta']['iter'] == 30
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == 2.0
    assert (loaded['message_hub']['runtime_info']['arr'] == np.arange(3)).all()
    # mmengine's own loader goes through the same safe path
    assert _load_checkpoint(str(path))['meta']['epoch'] == 3


def test_arbitrary_object_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'payload': Evil()}, path)
    if osp.exists('/tmp/ltcls_pwned'):
        os.remove('/tmp/ltcls_pwned')
    with pytest.raises(UnsafeCheckpointError, match='posix.system|system'):
        safe_torch_load(str(path))
    with pytest.raises(UnsafeCheckpointError, match='Refusing to load'):
        load_checkpoint(torch.nn.Linear(1, 1), str(path))
    assert not osp.exists('/tmp/ltcls_pwned')


def test_missing_checkpoint_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


class SneakyGetattr:
    """Tries to use the getattr that HistoryBuffer's pickles need to reach
    something else."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__subclasses__'))


def test_getattr_only_serves_history_buffer_statistics(tmp_path):
    path = tmp_path / 'sneaky.pth'
    torch.save({'x': SneakyGetattr()}, path)
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        safe_torch_load(str(path))


# ---------------------------------------------------------------------------
# the refusal names the offending type
# ---------------------------------------------------------------------------
class PlainObject:
    """Not allow-listed (a class, not a callable)."""


def test_refusal_names_the_type(tmp_path):
    path = tmp_path / 'obj.pth'
    torch.save({'w': torch.ones(1), 'o': PlainObject()}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_torch_load(str(path))
    msg = str(info.value)
    assert f'{PlainObject.__module__}.PlainObject' in msg
    assert str(path) in msg
    assert 'a pickled an' not in msg
    assert 'contains the global' in msg


# ---------------------------------------------------------------------------
# truncated / corrupt files
# ---------------------------------------------------------------------------
def _corrupt_variants(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.arange(4000.)}}, good)
    data = good.read_bytes()
    variants = {
        'half.pth': data[:len(data) // 2],
        'tail.pth': data[:-10],
        'empty.pth': b'',
        'junk.pth': b'not a checkpoint at all' * 10,
    }
    flipped = bytearray(data)
    start = data.index(b'data.pkl') + 40  # inside the pickle entry
    flipped[start:start + 16] = b'\0' * 16
    variants['crc.pth'] = bytes(flipped)
    legacy = io.BytesIO()
    torch.save({'w': torch.ones(3)}, legacy,
               _use_new_zipfile_serialization=False)
    variants['legacy_half.pth'] = legacy.getvalue()[:60]
    paths = []
    for name, content in variants.items():
        p = tmp_path / name
        p.write_bytes(content)
        paths.append(p)
    return paths


def test_corrupt_files_named_as_truncated_or_corrupt(tmp_path):
    for path in _corrupt_variants(tmp_path):
        with pytest.raises(CorruptCheckpointError) as info:
            safe_torch_load(str(path))
        msg = str(info.value)
        assert str(path) in msg and 'truncated or corrupt' in msg, msg
        # mmengine's loaders (resume, load_from, init_cfg) say the same
        with pytest.raises(CorruptCheckpointError, match=re.escape(
                str(path))):
            _load_checkpoint(str(path))
    # an intact file still loads after all that
    assert safe_torch_load(str(tmp_path / 'good.pth'))['state_dict'][
        'w'].shape == (4000, )


def test_buffer_corruption_names_the_source():
    buf = io.BytesIO()
    torch.save({'w': torch.ones(100)}, buf)
    cut = io.BytesIO(buf.getvalue()[:200])
    with pytest.raises(CorruptCheckpointError, match='s3://b/x.pth'):
        safe_torch_load(cut, name='s3://b/x.pth')


# ---------------------------------------------------------------------------
# every scheme mmengine registers goes through safe_torch_load
# ---------------------------------------------------------------------------
#: mmengine 0.10.7 mmengine/runner/checkpoint.py registers these.
MMENGINE_0_10_7_SCHEMES = {
    '', 'http://', 'https://', 'pavi://', r'(\S+\:)?s3://',
    r'(\S+\:)?petrel://', 'modelzoo://', 'torchvision://', 'open-mmlab://',
    'openmmlab://', 'mmcls://'
}


def test_every_registered_scheme_is_routed():
    import mmdet  # noqa: F401  (anything they register counts too)
    import mmpretrain.models  # noqa: F401
    schemes = CheckpointLoader._schemes
    assert MMENGINE_0_10_7_SCHEMES <= set(schemes)
    assert set(SAFE_SCHEMES) == MMENGINE_0_10_7_SCHEMES
    for prefix, loader in schemes.items():
        assert loader in safe_load._SAFE_LOADERS, (prefix, loader)
        assert loader.__module__ == 'ltcls.utils.safe_load', prefix


def test_scheme_registered_later_is_refused(tmp_path):
    marker = tmp_path / 'marker'
    path = tmp_path / 'evil.pth'
    torch.save({'x': MakeDir(marker)}, path)

    def unsafe_loader(filename, map_location=None):  # what a package might
        import pickle
        with open(filename[len('later://'):], 'rb') as f:
            return pickle.load(f)

    CheckpointLoader.register_scheme('later://', unsafe_loader)
    try:
        with pytest.raises(UnsafeCheckpointError, match='later://'):
            _load_checkpoint(f'later://{path}')
    finally:
        del CheckpointLoader._schemes['later://']
    assert not marker.exists()


class MakeDir:
    """Creates a marker folder when unpickled by an unrestricted
    unpickler."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path, ))


def test_marker_payload_is_live(tmp_path):
    """The payload of these tests really runs under plain pickle (so its
    absence after a refused load means something)."""
    import pickle
    marker = tmp_path / 'live'
    pickle.loads(pickle.dumps(MakeDir(marker)))
    assert marker.is_dir()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A temporary TORCH_HOME / MMENGINE_HOME; downloading is forbidden,
    so every load reads what the test put into the hub cache."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.setenv('MMENGINE_HOME', str(tmp_path / 'mmengine_home'))

    def no_download(url, dst, *args, **kwargs):
        raise AssertionError(f'tried to download {url} (offline test)')

    monkeypatch.setattr(torch.hub, 'download_url_to_file', no_download)
    cache = tmp_path / 'torch_home' / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)

    class Hub:
        marker = tmp_path / 'marker'

        @staticmethod
        def put(url_or_path, good, mmcls=False):
            """Cache a good (or malicious) checkpoint for a URL (or write
            it to a local path)."""
            if '://' in str(url_or_path):
                dst = cache / osp.basename(urlparse(url_or_path).path)
            else:
                dst = url_or_path
            key = 'backbone.w' if mmcls else 'w'
            ckpt = {'state_dict': {key: torch.full((2, ), 7.)}}
            if not good:
                ckpt['payload'] = MakeDir(Hub.marker)
            torch.save(ckpt, dst)
            return dst

    return Hub


def _check_scheme(hub, filename, put_target, mmcls=False):
    hub.put(put_target, good=False, mmcls=mmcls)
    with pytest.raises(UnsafeCheckpointError, match='posix.mkdir'):
        _load_checkpoint(filename)
    with pytest.raises(UnsafeCheckpointError, match='Refusing to load'):
        load_checkpoint(torch.nn.Linear(1, 1), filename)
    assert not hub.marker.exists(), filename
    hub.put(put_target, good=True, mmcls=mmcls)
    ckpt = _load_checkpoint(filename)
    assert torch.equal(ckpt['state_dict']['w'], torch.full((2, ), 7.))


@pytest.mark.parametrize('url', [
    'https://host/x.pth', 'http://host/models/y-1234abcd.pth'
])
def test_http_scheme(hub, url):
    _check_scheme(hub, url, url)


@pytest.mark.parametrize('scheme', ['torchvision://', 'modelzoo://'])
def test_torchvision_scheme(hub, scheme):
    from mmengine.runner.checkpoint import get_torchvision_models
    url = get_torchvision_models()['resnet152']
    _check_scheme(hub, f'{scheme}resnet152', url)


@pytest.mark.parametrize('scheme', ['open-mmlab://', 'openmmlab://'])
def test_openmmlab_scheme_url(hub, scheme):
    from mmengine.runner.checkpoint import (get_deprecated_model_names,
                                            get_external_models)
    table = get_external_models()
    name = 'detectron/resnet50_caffe'
    _check_scheme(hub, f'{scheme}{name}', table[name])
    # a deprecated name maps to the same file
    deprecated = {k for k, v in get_deprecated_model_names().items()
                  if v == name}
    assert deprecated
    ckpt = _load_checkpoint(f'{scheme}{sorted(deprecated)[0]}')
    assert 'w' in ckpt['state_dict']


def test_openmmlab_scheme_local_file(hub, tmp_path):
    """An open_mmlab.json entry that is a path under MMENGINE_HOME."""
    home = tmp_path / 'mmengine_home'
    (home / 'ltcls_test').mkdir(parents=True)
    (home / 'open_mmlab.json').write_text(
        json.dumps({'ltcls_test_local': 'ltcls_test/x.pth'}))
    _check_scheme(hub, 'open-mmlab://ltcls_test_local',
                  home / 'ltcls_test' / 'x.pth')


def test_mmcls_scheme(hub):
    from mmengine.runner.checkpoint import get_mmcls_models
    url = get_mmcls_models()['resnet50']
    _check_scheme(hub, 'mmcls://resnet50', url, mmcls=True)


def test_pavi_scheme(hub, tmp_path, monkeypatch):
    src = tmp_path / 'pavi_src.pth'

    class Model:
        name = 'model.pth'

        def download(self, dst):
            shutil.copy(src, dst)

    modelcloud = types.SimpleNamespace(get=lambda path: Model())
    monkeypatch.setitem(sys.modules, 'pavi',
                        types.SimpleNamespace(modelcloud=modelcloud))
    _check_scheme(hub, 'pavi://proj/model.pth', src)


@pytest.mark.parametrize(
    'uri', ['s3://bucket/x.pth', 'petrel://bucket/x.pth',
            'cluster1:s3://bucket/x.pth'])
def test_ceph_schemes(hub, tmp_path, monkeypatch, uri):
    import mmengine.fileio
    src = tmp_path / 'ceph_src.pth'

    class Backend:

        def get(self, filepath):
            assert filepath == uri
            return src.read_bytes()

    monkeypatch.setattr(mmengine.fileio, 'get_file_backend',
                        lambda *a, **k: Backend())
    _check_scheme(hub, uri, src)


def test_init_cfg_pretrained_torchvision(hub):
    """init_cfg=dict(type='Pretrained', checkpoint='torchvision://...'), as
    the Places-LT configs do."""
    from mmengine.runner.checkpoint import get_torchvision_models
    from mmpretrain.models import ResNet
    url = get_torchvision_models()['resnet18']
    model = ResNet(
        depth=18,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18'))
    hub.put(url, good=False)
    with pytest.raises(UnsafeCheckpointError, match='posix.mkdir'):
        model.init_weights()
    assert not hub.marker.exists()
    good = model.state_dict()
    good = {k: torch.full_like(v, 0.5) if v.is_floating_point() else v
            for k, v in good.items()}
    torch.save(good, hub.put(url, good=True))
    model = ResNet(
        depth=18,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18'))
    model.init_weights()
    assert torch.equal(model.conv1.weight,
                       torch.full_like(model.conv1.weight, 0.5))


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'configs/paco/paco_resnet152-in1k-pre_4xb32-30e_places-lt.py',
    'configs/rescom/rescom_resnet152-in1k-pre_8xb32-30e_places-lt.py'
])
def test_places_lt_config_torchvision_init(hub, repo_root, config):
    """The shipped Places-LT configs build their ResNet-152 from
    torchvision://resnet152: a malicious hub file is refused."""
    from mmengine.config import Config
    from mmengine.runner.checkpoint import get_torchvision_models

    from ltcls.registry import MODELS
    cfg = Config.fromfile(osp.join(repo_root, config))
    init_cfg = cfg.model.backbone.init_cfg
    assert init_cfg.checkpoint == 'torchvision://resnet152'
    hub.put(get_torchvision_models()['resnet152'], good=False)
    model = MODELS.build(cfg.model)
    with pytest.raises(UnsafeCheckpointError, match='posix.mkdir'):
        model.init_weights()
    assert not hub.marker.exists()
