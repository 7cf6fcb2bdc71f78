"""ExactResumeHook: exact resume inside an epoch and per-epoch seeding
(in-process, a toy model whose data and forward both draw random numbers),
and the sampler skip for every ltcls sampler."""
import copy
import random

import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import BatchSampler, Dataset

from ltcls.datasets.samplers import (ClassAwareSampler, DualStreamSampler,
                                     PowerSampler,
                                     ProgressivelyBalancedSampler)
from ltcls.engine.hooks import ExactResumeHook, SkipFirstSampler

NUM = 20
BATCH = 3  # 7 batches per epoch, the last one of 2 samples


class NoisyDataset(Dataset):
    """Random "augmentation" from numpy's and python's global RNGs."""

    metainfo = {'classes': ('a', 'b', 'c', 'd')}

    def __len__(self):
        return NUM

    def __getitem__(self, i):
        x = i / NUM + 0.1 * np.random.randn() + 0.1 * random.random()
        return dict(x=torch.tensor([x], dtype=torch.float32))

    def get_gt_labels(self):
        return np.arange(NUM) % 4


class NoisyModel(BaseModel):
    """The forward draws from torch's RNG (dropout)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 4)
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(4, 1)

    def forward(self, x, mode='loss'):
        return dict(loss=(self.out(self.drop(self.lin(x)))**2).mean())


class Interrupt(Exception):
    pass


class StopAt(Hook):
    priority = 'LOWEST'  # after the checkpoint of that iteration

    def __init__(self, it):
        self.it = it

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.it:
            raise Interrupt


class CountIters(Hook):

    def __init__(self):
        self.count = 0

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.count += 1


def make_runner(work_dir, hooks=(), resume_from=None, exact=True):
    torch.manual_seed(0)  # the same initial weights in every run
    return Runner(
        model=NoisyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=NoisyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=BATCH,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(
            type='GuardedOptimWrapper',
            optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        default_hooks=dict(
            logger=None,
            checkpoint=dict(
                type='CheckpointHook', by_epoch=False, interval=4),
            **(dict(exact_resume=dict(type='ExactResumeHook'))
               if exact else {})),
        custom_hooks=list(hooks),
        randomness=dict(seed=0),
        resume=resume_from is not None,
        load_from=resume_from,
        default_scope='ltcls',
        log_level='WARNING')


def weights(runner):
    return copy.deepcopy(runner.model.state_dict())


def interrupted_then_resumed(tmp_path, stop, exact=True):
    first = make_runner(tmp_path / 'part', [StopAt(stop)], exact=exact)
    with pytest.raises(Interrupt):
        first.train()
    counter = CountIters()
    resumed = make_runner(tmp_path / 'part2', [counter],
                          str(tmp_path / 'part' / f'iter_{stop}.pth'),
                          exact=exact)
    resumed.train()
    return resumed, counter


@pytest.mark.parametrize('stop', [4, 8, 12])
def test_mid_epoch_resume_is_exact(tmp_path, stop):
    full = make_runner(tmp_path / 'full')
    full.train()
    resumed, counter = interrupted_then_resumed(tmp_path, stop)
    assert counter.count == 14 - stop  # the rest of the schedule
    assert resumed.iter == full.iter == 14
    a, b = weights(full), weights(resumed)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the resumed steps did train (a frozen model would compare equal too)
    saved = torch.load(tmp_path / 'part' / f'iter_{stop}.pth',
                       weights_only=True)['state_dict']
    assert not torch.equal(saved['out.weight'], b['out.weight'])


def test_rng_states_are_needed(tmp_path, monkeypatch):
    """The control: without restoring the checkpoint's RNG states, the
    resumed batches get other draws and the weights differ."""
    full = make_runner(tmp_path / 'full')
    full.train()
    monkeypatch.setattr(ExactResumeHook, 'after_load_checkpoint',
                        lambda self, runner, checkpoint: None)
    resumed, counter = interrupted_then_resumed(tmp_path, 8)
    assert counter.count == 6
    a, b = weights(full), weights(resumed)
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_mmengine_alone_replays_the_epoch(tmp_path):
    """The control: without the hook, mmengine trains the interrupted epoch
    again from its first batch."""
    resumed, counter = interrupted_then_resumed(tmp_path, 8, exact=False)
    assert counter.count == 7  # epoch 2 from its first batch: 8 + 7 > 14
    assert resumed.iter == 15


def test_epochs_are_reseeded(tmp_path):
    """Every epoch starts from RNG states that depend on (seed, epoch)."""
    draws = []

    class Record(Hook):

        def before_train_epoch(self, runner):
            draws.append(torch.rand(1).item())

    make_runner(tmp_path / 'a', hooks=[Record()]).train()
    make_runner(tmp_path / 'b', hooks=[Record()]).train()
    assert draws[:2] == draws[2:] and draws[0] != draws[1]


def test_rng_states_saved_as_plain_tensors(tmp_path):
    make_runner(tmp_path / 'a').train()
    ckpt = torch.load(tmp_path / 'a' / 'iter_14.pth', weights_only=True)
    state = ckpt['rng_state']
    assert state['torch'].dtype == torch.uint8
    assert state['python'].shape == (1, 625)
    assert state['numpy_keys'].shape == (1, 624)


def _samplers():
    ds = NoisyDataset()
    return [
        DefaultSampler(ds, shuffle=True, seed=1),
        ClassAwareSampler(ds, seed=1),
        PowerSampler(ds, q=0.5, seed=1),
        ProgressivelyBalancedSampler(ds, total_epochs=3, seed=1),
        DualStreamSampler(ds, seed=1),
    ]


@pytest.mark.parametrize('sampler', _samplers(),
                         ids=lambda s: type(s).__name__)
def test_skip_first_sampler_gives_the_rest_of_the_epoch(sampler):
    sampler.set_epoch(2)
    full = list(sampler)
    skipped = SkipFirstSampler(sampler, 6)
    assert len(skipped) == len(sampler)
    assert list(skipped) == full[6:]
    assert list(SkipFirstSampler(sampler, len(full) + 5)) == []
    # batched, it yields the remaining batches of the same order
    batches = list(BatchSampler(SkipFirstSampler(sampler, 2 * BATCH), BATCH,
                                False))
    assert batches == list(BatchSampler(sampler, BATCH, False))[2:]


def test_custom_batch_sampler_is_a_clear_error():

    class MyBatchSampler(BatchSampler):
        pass

    class Loader:
        batch_sampler = MyBatchSampler(DefaultSampler(NoisyDataset()), 2,
                                       False)

    with pytest.raises(TypeError, match='MyBatchSampler'):
        ExactResumeHook()._skip(Loader(), 1)
