"""Every tool that reads a checkpoint refuses a malicious one (nothing is
unpickled: the payload's marker folder is never created) and names a
truncated one as truncated or corrupt. tools/train.py with
load_from=https://... reads the torch hub cache through the same safe
loader."""
import importlib.util
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch

from ltcls.utils import CorruptCheckpointError, UnsafeCheckpointError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _tools_testutils import QUICKSTART_CFG  # noqa: E402

TINY = ['train_dataloader.dataset.indices=16', 'train_cfg.max_epochs=1',
        'val_dataloader.dataset.indices=20',
        'test_dataloader.dataset.indices=20']


class MakeDir:
    """Creates a marker folder when unpickled without restriction."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path, ))


def _tool(rel_path):
    """Import a tool script by path (tools/test.py is no package)."""
    name = 'ltcls_tool_' + rel_path.replace('/', '_')[:-3]
    spec = importlib.util.spec_from_file_location(name,
                                                  osp.join(REPO, rel_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def bad_files(quickstart_run, tmp_path_factory):
    """A real checkpoint cut in half, and the same with a payload."""
    folder = tmp_path_factory.mktemp('bad_ckpts')
    data = open(quickstart_run['checkpoint'], 'rb').read()
    truncated = folder / 'truncated.pth'
    truncated.write_bytes(data[:len(data) // 2])
    ckpt = torch.load(quickstart_run['checkpoint'], weights_only=True)
    marker = folder / 'marker'
    ckpt['meta']['payload'] = MakeDir(marker)
    unsafe = folder / 'unsafe.pth'
    torch.save(ckpt, unsafe)
    return dict(truncated=str(truncated), unsafe=str(unsafe), marker=marker)


def _argv(tool, path, tmp_path):
    cfg = osp.join(REPO, QUICKSTART_CFG)
    work = str(tmp_path / 'work')
    return {
        'tools/test.py': [cfg, path, '--work-dir', work, '--cfg-options'] +
        TINY,
        'train --resume': [cfg, '--work-dir', work, '--resume', path,
                           '--cfg-options'] + TINY,
        'train load_from': [cfg, '--work-dir', work, '--cfg-options'] +
        TINY + [f'load_from={path}'],
        'tools/model_converters/publish_model.py':
        [path, str(tmp_path / 'pub.pth')],
        'tools/model_converters/extract_backbone.py':
        [path, str(tmp_path / 'bb.pth')],
        'tools/analysis_tools/tau_norm_sweep.py': [cfg, path,
                                                   '--cfg-options'] + TINY,
        'tools/analysis_tools/balancedness_report.py':
        [cfg, path, '--sigma', '1', '--out', str(tmp_path / 'r.json')],
    }[tool]


TOOLS = [
    'tools/test.py', 'train --resume', 'train load_from',
    'tools/model_converters/publish_model.py',
    'tools/model_converters/extract_backbone.py',
    'tools/analysis_tools/tau_norm_sweep.py',
    'tools/analysis_tools/balancedness_report.py'
]


@pytest.mark.slow
@pytest.mark.parametrize('tool', TOOLS)
@pytest.mark.parametrize('kind', ['truncated', 'unsafe'])
def test_tool_refuses_bad_checkpoint(tool, kind, bad_files, tmp_path,
                                     monkeypatch):
    monkeypatch.chdir(REPO)
    module = _tool('tools/train.py' if tool.startswith('train') else tool)
    path = bad_files[kind]
    error = CorruptCheckpointError if kind == 'truncated' \
        else UnsafeCheckpointError
    expected = 'truncated or corrupt' if kind == 'truncated' \
        else 'Refusing to load checkpoint'
    with pytest.raises(error) as info:
        module.main(_argv(tool, path, tmp_path))
    assert path in str(info.value) and expected in str(info.value)
    if kind == 'unsafe':
        assert 'posix.mkdir' in str(info.value)
    assert not bad_files['marker'].exists()


def test_balancedness_report_args_exist():
    """The argv above matches the tool's options (a renamed option would
    make the parametrized test above pass for the wrong reason)."""
    report = _tool('tools/analysis_tools/balancedness_report.py')
    args = report.parse_args(
        ['c.py', 'x.pth', '--sigma', '1', '--out', 'r.json'])
    assert args.checkpoint == 'x.pth'
    sweep = _tool('tools/analysis_tools/tau_norm_sweep.py')
    args = sweep.parse_args(['c.py', 'x.pth', '--cfg-options', 'a=1'])
    assert args.checkpoint == 'x.pth'


@pytest.fixture
def torch_home(tmp_path):
    home = tmp_path / 'torch_home'
    cache = home / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    return home, cache


@pytest.mark.slow
def test_train_load_from_https_malicious_subprocess(repo_root, tmp_path,
                                                    torch_home):
    """The issue's reproduction: a malicious x.pth in the hub cache, named
    by load_from=https://host/x.pth; offline (the file is cached)."""
    home, cache = torch_home
    marker = tmp_path / 'pwned'
    torch.save({'state_dict': {}, 'x': MakeDir(marker)}, cache / 'x.pth')
    env = dict(os.environ, TORCH_HOME=str(home), OMP_NUM_THREADS='1',
               PYTHONPATH=repo_root)
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', QUICKSTART_CFG, '--work-dir',
         str(tmp_path / 'work'), '--cfg-options'] + TINY +
        ['load_from=https://host/x.pth'],
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert 'UnsafeCheckpointError' in proc.stderr, proc.stderr[-3000:]
    assert 'posix.mkdir' in proc.stderr
    assert str(cache / 'x.pth') in proc.stderr
    assert not marker.exists()


@pytest.mark.slow
def test_train_load_from_https_good(repo_root, tmp_path, torch_home,
                                    quickstart_run, monkeypatch):
    home, cache = torch_home
    shutil.copy(quickstart_run['checkpoint'], cache / 'x.pth')
    monkeypatch.setenv('TORCH_HOME', str(home))
    monkeypatch.chdir(repo_root)
    train = _tool('tools/train.py')
    work = tmp_path / 'work'
    train.main([QUICKSTART_CFG, '--work-dir', str(work), '--cfg-options'] +
               TINY + ['load_from=https://host/x.pth'])
    assert (work / 'epoch_1.pth').is_file()
