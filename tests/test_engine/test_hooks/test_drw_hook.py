"""DRWHook: deferred effective-number re-weighting (LDAM-DRW)."""
import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from torch import nn

from ltcls.engine.hooks import DRWHook, effective_number_weights
from ltcls.models.losses import LDAMLoss
from ltcls.registry import HOOKS, MODELS

from test_class_counts_hook import digits_counts, tiny_cfg  # same folder


@HOOKS.register_module(force=True)
class _RecordClassWeight(Hook):
    """Runs after DRWHook in before_train_epoch; records the weights."""
    priority = 'LOW'
    seen = []

    def before_train_epoch(self, runner):
        loss = runner.model.head.loss_module
        w = loss.class_weight
        if isinstance(w, torch.Tensor):
            w = w.tolist() if w.numel() else None
        type(self).seen.append((runner.epoch, w))


@pytest.mark.slow
def test_ldam_drw_switches_at_start_epoch(tmp_path):
    _RecordClassWeight.seen = []
    cfg = tiny_cfg(
        tmp_path,
        dict(
            type='NormedLinearClsHead',
            num_classes=10,
            in_channels=16,
            loss=dict(type='LDAMLoss')),
        dict(type='LongTailAccuracy', topk=1, many_thr=60), [
            dict(type='ClassCountsHook'),
            dict(type='DRWHook', start_epoch=1),
            dict(type='_RecordClassWeight')
        ],
        max_epochs=2)
    cfg.train_cfg.val_interval = 2
    runner = Runner.from_cfg(cfg)
    runner.train()
    expected = effective_number_weights(digits_counts(), 0.9999)
    (e0, w0), (e1, w1) = _RecordClassWeight.seen
    assert (e0, w0) == (0, None)
    assert e1 == 1
    np.testing.assert_allclose(w1, expected, atol=1e-12, rtol=0)
    # rare classes get the largest weights, the mean weight is 1
    assert w1[-1] > w1[0] and abs(np.mean(w1) - 1) < 1e-12


def _fake_runner(model, epoch, max_epochs=10):
    return SimpleNamespace(
        model=model,
        epoch=epoch,
        max_epochs=max_epochs,
        logger=logging.getLogger('test_drw'))


def test_resume_and_mmpretrain_cross_entropy():
    counts = [100, 10, 2]
    expected = effective_number_weights(counts, 0.9999)
    model = nn.Module()
    model.ldam = LDAMLoss(class_counts=counts)
    model.ce = MODELS.build(
        dict(type='CrossEntropyLoss', class_weight=[1.0, 2.0, 3.0]))
    hook = DRWHook(start_epoch=3, class_counts=counts)
    hook.before_train(_fake_runner(model, 0))
    hook.before_train_epoch(_fake_runner(model, 0))
    assert model.ldam.class_weight.numel() == 0
    assert model.ce.class_weight == [1.0, 2.0, 3.0]
    hook.before_train_epoch(_fake_runner(model, 3))
    np.testing.assert_allclose(model.ldam.class_weight.numpy(), expected)
    np.testing.assert_allclose(model.ce.class_weight, expected)
    # a run resumed after start_epoch is re-weighted from its first epoch
    model2 = nn.Module()
    model2.ldam = LDAMLoss(class_counts=counts)
    hook2 = DRWHook(start_epoch=3, class_counts=counts)
    hook2.before_train(_fake_runner(model2, 7))
    hook2.before_train_epoch(_fake_runner(model2, 7))
    np.testing.assert_allclose(model2.ldam.class_weight.numpy(), expected)


def test_errors():
    with pytest.raises(ValueError, match='start_epoch must be an int'):
        DRWHook(start_epoch=-1)
    with pytest.raises(ValueError, match='beta must be in'):
        DRWHook(beta=1.5)
    model = nn.Module()
    model.fc = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match='found no loss to re-weight'):
        DRWHook(class_counts=[1, 2]).before_train(_fake_runner(model, 0))
