"""Divergence guard: GuardedOptimWrapper + NonFiniteGuardHook in a real
(in-process, toy) Runner: stop with the iteration and the loss term named,
or skip and count; no non-finite step is applied; no non-finite checkpoint
is written."""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from ltcls.engine.hooks import (NonFiniteCheckpointError, NonFiniteGuardHook,
                                NonFiniteLossError)


class Ones(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(x=torch.ones(2))


class Model(BaseModel):
    """Two loss terms; ``loss_bad`` is ``bad_value`` at the iterations in
    ``bad_iters`` (1-based), 0 otherwise."""

    def __init__(self, bad_iters=(), bad_value=float('nan')):
        super().__init__()
        self.lin = nn.Linear(2, 1)
        self.calls = 0
        self.bad_iters, self.bad_value = set(bad_iters), bad_value

    def forward(self, x, mode='loss'):
        self.calls += 1
        out = self.lin(x).mean()
        bad = self.calls in self.bad_iters
        return dict(loss_good=out**2,
                    loss_bad=(out * 0 + self.bad_value) if bad else out * 0)


def make_runner(tmp_path, model, action='stop', max_keep_ckpts=-1,
                interval=2, iters_epochs=3):
    return Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=Ones(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(
            type='GuardedOptimWrapper',
            optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=iters_epochs),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(
                type='CheckpointHook',
                by_epoch=False,
                interval=interval,
                max_keep_ckpts=max_keep_ckpts),
            nonfinite_guard=dict(type='NonFiniteGuardHook', action=action)),
        default_scope='ltcls',
        log_level='WARNING')


def all_finite_checkpoints(work_dir):
    paths = glob.glob(osp.join(work_dir, '*.pth'))
    for p in paths:
        ckpt = torch.load(p, weights_only=True)
        for k, v in ckpt['state_dict'].items():
            if v.is_floating_point():
                assert torch.isfinite(v).all(), (p, k)
    return sorted(osp.basename(p) for p in paths)


def test_stop_names_iteration_and_term_and_keeps_good_checkpoint(tmp_path):
    runner = make_runner(tmp_path, Model(bad_iters={5}), max_keep_ckpts=1)
    with pytest.raises(NonFiniteLossError,
                       match=r'iteration 5 .*loss_bad=nan') as err:
        runner.train()
    assert 'loss_good' not in str(err.value).split('gradient')[0] \
        .split('term(s)')[1]
    # the step was not applied: weights are finite
    for p in runner.model.parameters():
        assert torch.isfinite(p).all()
    # iter_4 is the last good checkpoint and survives (max_keep_ckpts=1)
    assert all_finite_checkpoints(str(tmp_path)) == ['iter_4.pth']


def test_inf_loss_is_caught_too(tmp_path):
    runner = make_runner(tmp_path, Model(bad_iters={2}, bad_value=math.inf))
    with pytest.raises(NonFiniteLossError,
                       match=r'iteration 2 .*loss_bad=inf'):
        runner.train()


def test_skip_counts_and_trains_on(tmp_path):
    model = Model(bad_iters={2, 5})
    runner = make_runner(tmp_path, model, action='skip')
    runner.train()
    guard = [h for h in runner.hooks if isinstance(h, NonFiniteGuardHook)]
    assert guard[0].num_skips == 2
    assert runner.iter == 12
    assert runner.message_hub.get_scalar('train/nonfinite_skips') \
        .current() == 2
    for p in runner.model.parameters():
        assert torch.isfinite(p).all()


def test_skipped_step_leaves_weights_unchanged():
    from mmengine.optim import build_optim_wrapper
    model = nn.Linear(2, 1)
    wrapper = build_optim_wrapper(
        model,
        dict(type='GuardedOptimWrapper', optimizer=dict(type='SGD', lr=1.0)))
    w0 = model.weight.detach().clone()
    wrapper.update_params(model(torch.ones(1, 2)).sum() * float('nan'))
    assert torch.equal(model.weight, w0)
    assert model.weight.grad is None or not model.weight.grad.any()
    assert math.isnan(wrapper.nonfinite_event['loss'])
    wrapper.nonfinite_event = None
    wrapper.update_params(model(torch.ones(1, 2)).sum())
    assert not torch.equal(model.weight, w0)
    assert wrapper.nonfinite_event is None


def test_nonfinite_gradient_with_finite_loss():
    from mmengine.optim import build_optim_wrapper
    model = nn.Linear(2, 1)
    wrapper = build_optim_wrapper(
        model,
        dict(type='GuardedOptimWrapper', optimizer=dict(type='SGD', lr=1.0)))
    w0 = model.weight.detach().clone()
    x = torch.tensor([[0.0, 1.0]])
    # d/dw sqrt(w . x) at w . x = 0 is inf; the loss itself is finite (0)
    loss = torch.sqrt((model.weight * x).sum() - (model.weight * x).sum()
                      .detach())
    wrapper.update_params(loss)
    assert torch.equal(model.weight, w0)
    assert math.isfinite(wrapper.nonfinite_event['loss'])
    assert not math.isfinite(wrapper.nonfinite_event['grad_norm'])


def test_nonfinite_checkpoint_is_refused(tmp_path):
    runner = make_runner(tmp_path, Model())
    runner.train()
    with torch.no_grad():
        runner.model.lin.bias.fill_(float('nan'))
    with pytest.raises(NonFiniteCheckpointError,
                       match=r'state_dict\.lin\.bias'):
        runner.save_checkpoint(str(tmp_path), 'bad.pth')
    assert not osp.exists(osp.join(tmp_path, 'bad.pth'))


def test_bad_arguments():
    with pytest.raises(ValueError, match="'stop' or 'skip'"):
        NonFiniteGuardHook(action='ignore')
    with pytest.raises(ValueError, match='max_skips'):
        NonFiniteGuardHook(action='skip', max_skips=-1)
