# Copyright (c) ltcls contributors. All rights reserved.
"""KCL algorithm: one training step equals the functional loss on the
same tensors; MoCo order (EMA update before keys, enqueue after loss)."""
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from ltcls.models.losses import kcl_loss
from ltcls.registry import MODELS


def _cfg(**kwargs):
    loss = dict(type='KCLLoss', temperature=0.2, pos_k=2)
    for key in ('temperature', 'pos_k', 'pos_selection'):
        if key in kwargs:
            loss[key] = kwargs.pop(key)
    cfg = dict(
        type='KCL',
        backbone=dict(type='ResNet32CIFAR', depth=20),
        projector=dict(
            type='ProjectionMLP', in_channels=64, out_channels=8,
            num_layers=1),
        queue_len=16,
        feat_dim=8,
        momentum=0.2,
        loss=loss,
        data_preprocessor=dict(mean=[0., 0., 0.], std=[1., 1., 1.]))
    cfg.update(kwargs)
    return cfg


def _build(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(_cfg(**kwargs))
    model.init_weights()
    return model


def _batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(n, 3, 16, 16, generator=g) for _ in range(2)]
    labels = torch.randint(0, 3, (n, ), generator=g)
    return views, [DataSample().set_gt_label(int(y)) for y in labels], labels


@pytest.mark.parametrize('pos_k', [2, None])
def test_loss_equals_functional_kcl(pos_k):
    model = _build(pos_k=pos_k)
    # fill part of the queue so that there are queue positives
    v, ds, _ = _batch(seed=1)
    model.fill_queue(v, ds)
    v, ds, labels = _batch(seed=2)
    qk = model.queue.keys.clone()
    ql = model.queue.labels.clone()
    losses = model.loss(v, ds)
    assert set(losses) == {'loss_kcl', 'kcl_num_pos'}
    # recompute with the (already updated) momentum encoder, no update
    with torch.no_grad():
        q = model.embed(v[0])[1]
        k = model.momentum_keys(v[1], update=False)
    expected = kcl_loss(
        q,
        k,
        labels,
        qk,
        ql,
        pos_k,
        0.2,
        'random',
        step=int(model.encoder_k.steps),
        row_offset=0)
    torch.testing.assert_close(
        losses['loss_kcl'].detach(), expected, rtol=1e-5, atol=1e-6)
    same = ((labels[:, None] == ql[None]) & (ql[None] >= 0)).sum(1)
    exp_pos = same.float() if pos_k is None else same.clamp(max=2).float()
    assert abs(float(losses['kcl_num_pos']) - float(exp_pos.mean())) < 1e-6
    # enqueued after the loss: the newest 6 slots are this batch's keys
    assert model.queue.labels[6:12].tolist() == labels.tolist()
    torch.testing.assert_close(model.queue.keys[6:12], k, rtol=1e-5, atol=1e-6)


def test_train_steps_update_online_and_momentum_encoders():
    model = _build()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.5))
    v, ds, _ = _batch()
    data = dict(
        inputs=[[x for x in v[0]], [x for x in v[1]]],
        data_samples=ds)  # pseudo_collate layout
    # with an empty queue the only logit is the own key: loss 0, no grad
    log = model.train_step(data, optim)
    assert float(log['loss'].detach()) == 0.0
    assert int(model.encoder_k.steps) == 1
    assert model.queue.num_filled() == 6
    log = model.train_step(data, optim)
    assert float(log['loss'].detach()) > 0 and torch.isfinite(log['loss'])
    assert model.queue.num_filled() == 12
    k_before = {
        n: p.clone()
        for n, p in model.encoder_k.module.named_parameters()
    }
    q_now = {n: p.clone() for n, p in model.online_encoder.named_parameters()}
    # the first step changed the online weights; the key encoder is still
    # the copy taken before that step
    changed = [n for n in q_now if not torch.equal(q_now[n], k_before[n])]
    assert changed
    log = model.train_step(data, optim)
    for n, p in model.encoder_k.module.named_parameters():
        torch.testing.assert_close(p, 0.8 * k_before[n] + 0.2 * q_now[n])
    assert model.queue.num_filled() == 16
    # the projector, momentum encoder and queue never get gradients
    assert all(not p.requires_grad for p in model.encoder_k.parameters())


def test_errors():
    with pytest.raises(ValueError, match='projector'):
        MODELS.build(_cfg(projector=None))
    with pytest.raises(ValueError, match='pos_selection'):
        MODELS.build(_cfg(pos_selection='first'))
    model = _build()
    with pytest.raises(TypeError, match='MultiView'):
        model.loss(torch.zeros(2, 3, 16, 16), [DataSample()] * 2)
