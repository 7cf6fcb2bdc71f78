"""CheckedRunner: resume / load_from with another model's checkpoint stop
with CheckpointMismatchError before the checkpoint is loaded into anything;
load_from_strict=False allows a partial load_from."""
import os.path as osp
import sys
from importlib import import_module

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper

from ltcls.engine.runners import CheckedRunner
from ltcls.registry import MODELS, RUNNERS
from ltcls.utils.checkpoint import CheckpointMismatchError

CFG = 'configs/quickstart/resnet32_ce_digits-lt.py'


def _cfg(repo_root, work_dir, **kwargs):
    cfg = Config.fromfile(osp.join(repo_root, CFG))
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.dataset.indices = 32
    cfg.train_dataloader.batch_size = 16
    cfg.train_cfg.max_epochs = 1
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg.pop('val_interval', None)
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.model.backbone.depth = 20
    cfg.param_scheduler = []
    cfg.log_level = 'WARNING'
    cfg.merge_from_dict(kwargs)
    return cfg


def _other_model_checkpoint(repo_root, path):
    """A checkpoint of the quickstart model with a ResNet-32 (the runner
    builds a ResNet-20): other keys and, for shared names, same shapes."""
    cfg = Config.fromfile(osp.join(repo_root, CFG))
    model = MODELS.build(cfg.model)
    torch.save({'meta': {'epoch': 1, 'iter': 2},
                'state_dict': model.state_dict(),
                'optimizer': {'state': {}, 'param_groups': [
                    {'lr': 0.1, 'params': [0]}]}}, path)
    return model.state_dict()


@pytest.fixture
def no_optimizer_load(monkeypatch):
    calls = []
    monkeypatch.setattr(OptimWrapper, 'load_state_dict',
                        lambda self, state: calls.append(state))
    return calls


def test_default_runtime_builds_checked_runner(repo_root, tmp_path):
    cfg = _cfg(repo_root, tmp_path)
    assert cfg.runner_type == 'CheckedRunner'
    assert cfg.load_from_strict is True
    assert isinstance(RUNNERS.build(cfg), CheckedRunner)


def test_resume_other_model_refused_before_optimizer(repo_root, tmp_path,
                                                     no_optimizer_load):
    other = tmp_path / 'other.pth'
    _other_model_checkpoint(repo_root, other)
    runner = RUNNERS.build(
        _cfg(repo_root, tmp_path / 'w', resume=True, load_from=str(other)))
    with pytest.raises(CheckpointMismatchError) as info:
        runner.train()
    msg = str(info.value)
    assert str(other) in msg and 'does not match the model' in msg
    assert 'unexpected key' in msg and 'resume needs' in msg
    assert no_optimizer_load == []
    assert runner.iter == 0


def test_auto_resume_other_model_refused(repo_root, tmp_path,
                                         no_optimizer_load):
    work = tmp_path / 'w'
    work.mkdir()
    other = work / 'epoch_1.pth'
    _other_model_checkpoint(repo_root, other)
    (work / 'last_checkpoint').write_text(str(other))
    runner = RUNNERS.build(_cfg(repo_root, work, resume=True))
    with pytest.raises(CheckpointMismatchError, match='epoch_1.pth'):
        runner.train()
    assert no_optimizer_load == []


def test_auto_resume_missing_file_named(repo_root, tmp_path):
    work = tmp_path / 'w'
    work.mkdir()
    (work / 'last_checkpoint').write_text(str(work / 'epoch_9.pth'))
    runner = RUNNERS.build(_cfg(repo_root, work, resume=True))
    with pytest.raises(FileNotFoundError, match='last_checkpoint.*epoch_9'):
        runner.train()


def test_load_from_other_model_refused(repo_root, tmp_path):
    other = tmp_path / 'other.pth'
    state = _other_model_checkpoint(repo_root, other)
    runner = RUNNERS.build(
        _cfg(repo_root, tmp_path / 'w', load_from=str(other)))
    with pytest.raises(CheckpointMismatchError,
                       match='load_from_strict = False'):
        runner.train()
    assert runner.iter == 0
    # nothing of the checkpoint was loaded (not even the entries whose
    # names and shapes match, which a partial load would copy)
    own = runner.model.state_dict()
    for k in ('backbone.conv1.weight', 'head.fc.weight'):
        assert own[k].shape == state[k].shape
        assert not torch.equal(own[k], state[k]), k


def test_partial_load_from_when_allowed(repo_root, tmp_path):
    other = tmp_path / 'other.pth'
    state = _other_model_checkpoint(repo_root, other)
    runner = RUNNERS.build(
        _cfg(repo_root, tmp_path / 'w', load_from=str(other),
             load_from_strict=False))
    runner.load_or_resume()
    own = runner.model.state_dict()
    shared = [k for k in own if k in state and own[k].shape == state[k].shape]
    assert 'head.fc.weight' in shared and 'backbone.conv1.weight' in shared
    for k in shared:
        assert torch.equal(own[k], state[k]), k
    runner.train()  # trains on
    assert runner.iter == 2


def test_load_from_strict_must_be_bool(repo_root, tmp_path):
    other = tmp_path / 'other.pth'
    _other_model_checkpoint(repo_root, other)
    runner = RUNNERS.build(
        _cfg(repo_root, tmp_path / 'w', load_from=str(other),
             load_from_strict='no'))
    with pytest.raises(TypeError, match='load_from_strict'):
        runner.load_or_resume()


def test_matching_load_from_loads(repo_root, tmp_path):
    runner = RUNNERS.build(_cfg(repo_root, tmp_path / 'a'))
    state = {k: torch.rand_like(v) if v.is_floating_point() else v
             for k, v in runner.model.state_dict().items()}
    path = tmp_path / 'same.pth'
    torch.save({'state_dict': state}, path)
    runner = RUNNERS.build(
        _cfg(repo_root, tmp_path / 'b', load_from=str(path)))
    runner.load_or_resume()
    for k, v in runner.model.state_dict().items():
        assert torch.equal(v, state[k]), k


@pytest.mark.slow
def test_train_py_resume_and_load_from_other_model(repo_root, tmp_path,
                                                   no_optimizer_load):
    other = tmp_path / 'other.pth'
    _other_model_checkpoint(repo_root, other)
    sys.path.insert(0, osp.join(repo_root, 'tools'))
    train = import_module('train')
    args = [CFG, '--cfg-options', 'train_dataloader.dataset.indices=32',
            'model.backbone.depth=20', 'train_cfg.max_epochs=1']
    with pytest.raises(CheckpointMismatchError, match='resume needs'):
        train.main([CFG, '--work-dir', str(tmp_path / 'r'), '--resume',
                    str(other)] + args[1:])
    assert no_optimizer_load == []
    with pytest.raises(CheckpointMismatchError,
                       match='load_from_strict = False'):
        train.main([CFG, '--work-dir', str(tmp_path / 'l')] + args[1:] +
                   [f'load_from={other}'])
