# Copyright (c) ltcls contributors. All rights reserved.
"""QueueWarmupHook fills the queue without training."""
import copy
from types import SimpleNamespace

import pytest
import torch
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader

from ltcls.registry import DATASETS, HOOKS, MODELS


def _model(queue_len):
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='KCL',
            backbone=dict(type='ResNet32CIFAR', depth=20),
            projector=dict(
                type='ProjectionMLP',
                in_channels=64,
                out_channels=8,
                num_layers=1),
            queue_len=queue_len,
            feat_dim=8,
            data_preprocessor=dict(mean=[48.5] * 3, std=[82.] * 3)))
    model.init_weights()
    return model


def _runner(model, batch_size=8):
    view = [dict(type='RandomFlip', prob=0.5)]
    ds = DATASETS.build(
        dict(
            type='DigitsLT',
            split='train',
            imbalance_factor=10,
            pipeline=[
                dict(type='MultiView', num_views=2, transforms=[view]),
                dict(type='PackInputs')
            ]))
    loader = DataLoader(
        ds, batch_size=batch_size, shuffle=True, collate_fn=pseudo_collate)
    return SimpleNamespace(model=model, train_dataloader=loader)


def test_fills_queue_without_training():
    model = _model(queue_len=20)
    runner = _runner(model)
    params = copy.deepcopy({n: p for n, p in model.named_parameters()})
    hook = HOOKS.build(dict(type='QueueWarmupHook'))
    hook.before_train(runner)
    assert model.queue.num_filled() == 20
    assert (model.queue.labels >= 0).all()
    # ceil(20 / 8) = 3 batches of 8: 24 keys -> ptr = 4
    assert int(model.queue.ptr) == 4
    assert int(model.encoder_k.steps) == 0  # no momentum update
    for n, p in model.named_parameters():
        assert torch.equal(p, params[n]), n  # no optimiser step
    # a full queue (resumed run) is left alone
    keys = model.queue.keys.clone()
    hook.before_train(runner)
    assert torch.equal(model.queue.keys, keys)


def test_max_batches_disabled_and_bad_model():
    model = _model(queue_len=40)
    runner = _runner(model)
    HOOKS.build(dict(type='QueueWarmupHook',
                     enabled=False)).before_train(runner)
    assert model.queue.num_filled() == 0
    HOOKS.build(dict(type='QueueWarmupHook',
                     max_batches=2)).before_train(runner)
    assert model.queue.num_filled() == 16
    plain = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet32CIFAR', depth=20)))
    with pytest.raises(TypeError, match='queue'):
        HOOKS.build(dict(type='QueueWarmupHook')).before_train(
            SimpleNamespace(model=plain, train_dataloader=None))
    with pytest.raises(ValueError, match='max_batches'):
        HOOKS.build(dict(type='QueueWarmupHook', max_batches=0))


def test_empty_dataloader_raises():
    model = _model(queue_len=8)
    runner = SimpleNamespace(
        model=model, train_dataloader=DataLoader([], batch_size=4))
    with pytest.raises(ValueError, match='empty'):
        HOOKS.build(dict(type='QueueWarmupHook')).before_train(runner)
