# Copyright (c) ltcls contributors. All rights reserved.
"""CurriculumAlphaHook: alpha = 1 - (T / T_max)^2 set on the model."""
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from ltcls.engine.hooks.curriculum_hook import (CurriculumAlphaHook,
                                                curriculum_alpha)


class ToyDataset(Dataset):
    METAINFO = dict()

    def __len__(self):
        return 6

    def __getitem__(self, idx):
        return dict(inputs=torch.full((2, ), float(idx)), data_samples=idx)


class AlphaModel(BaseModel):
    """Records the alpha it sees in every training step."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.alpha = -1.0
        self.seen = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            self.seen.append(self.alpha)
            return dict(loss=out.pow(2).mean())
        return out


class NoAlphaModel(AlphaModel):

    def __init__(self):
        super().__init__()
        del self.alpha


def _runner(tmp_path, model, hook, max_epochs=5, name='a', **kwargs):
    return Runner(
        model=model,
        work_dir=str(tmp_path / name),
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        custom_hooks=[hook],
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        default_scope='ltcls',
        log_level='WARNING',
        experiment_name=f'curriculum_{name}_{tmp_path.name}',
        **kwargs)


def test_curriculum_alpha_values():
    # spec_hybrid.md §4.2 example values
    par = {0: 1.0, 60: 0.91, 100: 0.75, 120: 0.64, 160: 0.36, 180: 0.19,
           199: 0.009975}  # spec rounds the last to 0.0100
    for t, a in par.items():
        assert curriculum_alpha('parabolic', t, 200) == pytest.approx(
            1 - (t / 200)**2)
        assert curriculum_alpha('parabolic', t, 200) == pytest.approx(
            a, abs=1e-4)
    lin = {0: 1.0, 60: 0.40, 80: 0.20, 99: 0.01}
    for t, a in lin.items():
        assert curriculum_alpha('linear', t, 100) == pytest.approx(a)
    assert curriculum_alpha('constant', 37, 100, value=0.5) == 0.5
    assert curriculum_alpha('linear', 150, 100) == 0.0
    with pytest.raises(ValueError, match='schedule'):
        curriculum_alpha('cosine', 1, 10)
    with pytest.raises(ValueError, match='T_max'):
        curriculum_alpha('linear', 1, 0)


def _per_epoch(seen, iters_per_epoch=3):
    return [seen[i] for i in range(0, len(seen), iters_per_epoch)]


def test_hook_sets_alpha_each_epoch(tmp_path):
    model = AlphaModel()
    runner = _runner(tmp_path, model, dict(type='CurriculumAlphaHook'))
    runner.train()
    assert len(model.seen) == 15  # 5 epochs x 3 iterations
    expected = [1 - (e / 5)**2 for e in range(5)]
    for e in range(5):  # constant within an epoch
        assert model.seen[3 * e:3 * e + 3] == pytest.approx([expected[e]] * 3)
    # logged every iteration
    hist = runner.message_hub.get_scalar('train/alpha')
    assert list(hist.data[0]) == pytest.approx(model.seen)


@pytest.mark.parametrize('kwargs,expected', [
    (dict(schedule='linear'), [1 - e / 5 for e in range(5)]),
    (dict(schedule='linear', zero_based=False), [1 - e / 5
                                                 for e in range(1, 6)]),
    (dict(schedule='constant', value=0.5), [0.5] * 5),
    (dict(schedule='parabolic', total=10), [1 - (e / 10)**2
                                            for e in range(5)]),
])
def test_hook_variants(tmp_path, kwargs, expected):
    model = AlphaModel()
    _runner(tmp_path, model, dict(type='CurriculumAlphaHook',
                                  **kwargs)).train()
    assert _per_epoch(model.seen) == pytest.approx(expected)


def test_hook_by_iter(tmp_path):
    model = AlphaModel()
    _runner(tmp_path, model,
            dict(type='CurriculumAlphaHook', by_epoch=False)).train()
    assert model.seen == pytest.approx([1 - (i / 15)**2 for i in range(15)])


def test_resume_continues_curriculum(tmp_path):
    first = AlphaModel()
    _runner(tmp_path, first, dict(type='CurriculumAlphaHook'),
            max_epochs=2, name='r').train()
    model = AlphaModel()
    runner = _runner(tmp_path, model, dict(type='CurriculumAlphaHook'),
                     max_epochs=5, name='r', resume=True,
                     load_from=str(tmp_path / 'r' / 'epoch_2.pth'))
    runner.train()
    assert _per_epoch(model.seen) == pytest.approx(
        [1 - (e / 5)**2 for e in range(2, 5)])


def test_hook_errors(tmp_path):
    with pytest.raises(ValueError, match='schedule'):
        CurriculumAlphaHook(schedule='step')
    with pytest.raises(ValueError, match='value'):
        CurriculumAlphaHook(schedule='constant', value=1.5)
    with pytest.raises(ValueError, match='total'):
        CurriculumAlphaHook(total=0)
    runner = _runner(tmp_path, NoAlphaModel(),
                     dict(type='CurriculumAlphaHook'), name='n')
    with pytest.raises(AttributeError, match="no attribute 'alpha'"):
        runner.train()
