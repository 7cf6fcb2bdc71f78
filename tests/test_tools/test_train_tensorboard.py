"""tools/train.py --tensorboard: the visualizer config, and a clear error
when TensorBoard is not installed (tensorboard itself is not required)."""
import os.path as osp
import sys
from importlib import import_module

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))
train = import_module('train')

CFG = osp.join(REPO, 'configs/quickstart/resnet32_ce_digits-lt.py')


def _types(cfg):
    return [b['type'] for b in cfg.visualizer.vis_backends]


def _merged(argv):
    args = train.parse_args(argv)
    return train.merge_args(Config.fromfile(args.config), args)


def test_default_runtime_is_local_only():
    cfg = _merged([CFG])
    assert _types(cfg) == ['LocalVisBackend']
    train.check_vis_backends(cfg)  # nothing to check


def test_flag_appends_tensorboard_backend():
    cfg = _merged([CFG, '--tensorboard'])
    assert _types(cfg) == ['LocalVisBackend', 'TensorboardVisBackend']
    assert cfg.visualizer.type == 'UniversalVisualizer'
    # idempotent, also when the config already lists it
    train.add_tensorboard_backend(cfg)
    assert _types(cfg) == ['LocalVisBackend', 'TensorboardVisBackend']
    cfg = Config(
        dict(
            visualizer=dict(
                type='Visualizer',
                vis_backends=[dict(type='mmengine.TensorboardVisBackend')])))
    train.add_tensorboard_backend(cfg)
    assert _types(cfg) == ['mmengine.TensorboardVisBackend']


def test_flag_without_visualizer_in_config():
    cfg = Config(dict(work_dir='x'))
    train.add_tensorboard_backend(cfg)
    assert _types(cfg) == ['LocalVisBackend', 'TensorboardVisBackend']


def test_the_backend_builds(tmp_path):
    """The appended backend is mmengine's (built lazily: no writer yet)."""
    from mmengine.registry import VISBACKENDS
    cfg = _merged([CFG, '--tensorboard'])
    backend = VISBACKENDS.build(
        dict(cfg.visualizer.vis_backends[-1], save_dir=str(tmp_path)))
    assert type(backend).__name__ == 'TensorboardVisBackend'


def test_missing_tensorboard_is_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(train, 'tensorboard_available', lambda: False)
    cfg = _merged([CFG, '--tensorboard'])
    with pytest.raises(ImportError, match='pip install tensorboard'):
        train.check_vis_backends(cfg)
    # main() fails before building the runner
    with pytest.raises(ImportError, match='pip install tensorboard'):
        train.main([CFG, '--tensorboard', '--work-dir', str(tmp_path)])
    assert not list(tmp_path.iterdir())
    # without the flag nothing is checked
    train.check_vis_backends(_merged([CFG]))


def test_available_tensorboard_passes(monkeypatch):
    monkeypatch.setattr(train, 'tensorboard_available', lambda: True)
    train.check_vis_backends(_merged([CFG, '--tensorboard']))


def test_tensorboard_available_reflects_import(monkeypatch):
    import importlib

    def fail(name, *a, **k):
        raise ImportError(f'No module named {name!r}')

    monkeypatch.setattr(importlib, 'import_module', fail)
    assert train.tensorboard_available() is False
