# Copyright (c) ltcls contributors. All rights reserved.
"""SBCL / MoCoSBCL algorithms: warm-up loss before the first clustering,
SBCL loss with the subclass ids looked up by ``sample_idx`` afterwards,
queue with class + subclass ids, state-dict behaviour."""
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.models import ImageClassifier
from mmpretrain.structures import DataSample

from ltcls.models.losses import (kcl_loss, sbcl_loss, sbcl_queue_loss,
                                 supcon_loss)
from ltcls.registry import MODELS

N_TRAIN = 20


def _sbcl_cfg(**kwargs):
    cfg = dict(
        type='SBCL',
        num_classes=3,
        num_train_samples=N_TRAIN,
        backbone=dict(type='ResNet32CIFAR', depth=20, base_channels=4),
        projector=dict(
            type='ProjectionMLP',
            in_channels=16,
            hid_channels=16,
            out_channels=8),
        loss=dict(
            type='SBCLLoss', tau1=0.1, base_temperature=0.07, beta=0.25),
        warmup_loss=dict(
            type='SupConLoss', temperature=0.1, base_temperature=0.1),
        data_preprocessor=dict(mean=[0., 0., 0.], std=[1., 1., 1.]))
    cfg.update(kwargs)
    return cfg


def _moco_cfg(**kwargs):
    cfg = dict(
        type='MoCoSBCL',
        num_classes=3,
        num_train_samples=N_TRAIN,
        backbone=dict(type='ResNet32CIFAR', depth=20, base_channels=4),
        projector=dict(
            type='ProjectionMLP',
            in_channels=16,
            hid_channels=16,
            out_channels=8),
        queue_len=16,
        feat_dim=8,
        momentum=0.2,
        loss=dict(
            type='SBCLQueueLoss', tau1=0.07, default_tau2=0.12, beta=0.2),
        warmup_loss=dict(type='KCLLoss', pos_k=2, temperature=0.07),
        data_preprocessor=dict(mean=[0., 0., 0.], std=[1., 1., 1.]))
    cfg.update(kwargs)
    return cfg


def _build(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _batch(n=6, seed=0):
    """Two views, labels and DataSamples with (shuffled) sample_idx."""
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(n, 3, 8, 8, generator=g) for _ in range(2)]
    labels = torch.randint(0, 3, (n, ), generator=g)
    idx = torch.randperm(N_TRAIN, generator=g)[:n]
    samples = [
        DataSample(metainfo=dict(sample_idx=int(i))).set_gt_label(int(y))
        for i, y in zip(idx, labels)
    ]
    return views, samples, labels, idx


def _clustering(seed=0):
    """Fake clustering result: subclass ids consistent with the labels of
    every sample index (class c owns ids 2c, 2c + 1)."""
    g = torch.Generator().manual_seed(seed)
    labels_by_idx = torch.randint(0, 3, (N_TRAIN, ), generator=g)
    sub = labels_by_idx * 2 + torch.randint(0, 2, (N_TRAIN, ), generator=g)
    tau2 = torch.tensor([0.15, 0.3, 0.2])
    return labels_by_idx, sub, tau2


def _consistent_batch(labels_by_idx, n=6, seed=0):
    views, _, _, idx = _batch(n, seed)
    labels = labels_by_idx[idx]
    samples = [
        DataSample(metainfo=dict(sample_idx=int(i))).set_gt_label(int(y))
        for i, y in zip(idx, labels)
    ]
    return views, samples, labels, idx


def test_sbcl_warmup_then_sbcl_loss():
    model = _build(_sbcl_cfg())
    assert not model.is_cluster_ready
    assert model.subclass_labels.tolist() == [-1] * N_TRAIN
    views, samples, labels, _ = _batch()
    losses = model.loss(views, samples)
    assert set(losses) == {'loss_warmup', 'sbcl_ready'}
    with torch.no_grad():
        z = model.embed(torch.cat(views))[1].view(2, 6, -1).transpose(0, 1)
    torch.testing.assert_close(
        losses['loss_warmup'].detach(),
        supcon_loss(z, labels, temperature=0.1, base_temperature=0.1),
        rtol=1e-5,
        atol=1e-6)

    labels_by_idx, sub, tau2 = _clustering()
    model.set_subclasses(sub, tau2)
    assert model.is_cluster_ready
    views, samples, labels, idx = _consistent_batch(labels_by_idx)
    losses = model.loss(views, samples)
    assert set(losses) == {'loss_sbcl', 'sbcl_ready'}
    assert float(losses['sbcl_ready']) == 1.0
    with torch.no_grad():
        z = model.embed(torch.cat(views))[1].view(2, 6, -1).transpose(0, 1)
    expected = sbcl_loss(
        z, labels, sub[idx], tau2, tau1=0.1, base_temperature=0.07, beta=0.25)
    torch.testing.assert_close(
        losses['loss_sbcl'].detach(), expected, rtol=1e-5, atol=1e-6)
    # the per-class temperature matters: another tau2 gives another loss
    model.set_subclasses(sub, tau2 * 2)
    other = model.loss(views, samples)['loss_sbcl'].detach()
    assert abs(float(other) - float(expected)) > 1e-4


def test_sbcl_train_step_and_lookup_errors():
    model = _build(_sbcl_cfg())
    labels_by_idx, sub, tau2 = _clustering()
    model.set_subclasses(sub, tau2)
    views, samples, _, _ = _consistent_batch(labels_by_idx)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    data = dict(
        inputs=[[x for x in views[0]], [x for x in views[1]]],
        data_samples=samples)  # pseudo_collate layout
    log = model.train_step(data, optim)
    assert torch.isfinite(log['loss'])
    no_idx = [DataSample().set_gt_label(0) for _ in range(6)]
    with pytest.raises(ValueError, match='sample_idx'):
        model.loss(views, no_idx)
    far = [
        DataSample(metainfo=dict(sample_idx=N_TRAIN + 3)).set_gt_label(0)
        for _ in range(6)
    ]
    with pytest.raises(ValueError, match='out of range'):
        model.loss(views, far)


def test_set_subclasses_validation():
    model = _build(_sbcl_cfg())
    _, sub, tau2 = _clustering()
    with pytest.raises(ValueError, match='holds 20 training samples'):
        model.set_subclasses(sub[:5], tau2)
    with pytest.raises(ValueError, match='>= 0'):
        model.set_subclasses(torch.full_like(sub, -1), tau2)
    with pytest.raises(ValueError, match='num_classes=3'):
        model.set_subclasses(sub, tau2[:2])
    with pytest.raises(ValueError, match='> 0'):
        model.set_subclasses(sub, torch.zeros(3))
    with pytest.raises(ValueError, match='momentum encoder'):
        _build(_sbcl_cfg(cluster_feat_source='momentum'))


def test_state_dict_carries_subclasses_and_resizes():
    model = _build(_sbcl_cfg())
    _, sub, tau2 = _clustering()
    model.set_subclasses(sub, tau2)
    sd = model.state_dict()
    assert torch.equal(sd['subclass_labels'], sub)
    # a model built without the train-set size takes the checkpoint's
    fresh = _build(_sbcl_cfg(num_train_samples=0))
    assert fresh.subclass_labels.numel() == 0
    fresh.load_state_dict(sd, strict=True)
    assert torch.equal(fresh.subclass_labels, sub)
    torch.testing.assert_close(fresh.class_tau2, tau2)
    assert fresh.is_cluster_ready
    # init_subclass_buffer keeps a buffer of the right size
    fresh.init_subclass_buffer(N_TRAIN)
    assert torch.equal(fresh.subclass_labels, sub)
    fresh.init_subclass_buffer(N_TRAIN + 1)
    assert fresh.subclass_labels.tolist() == [-1] * (N_TRAIN + 1)
    assert not fresh.is_cluster_ready
    # the classifier part loads strictly into a plain ImageClassifier
    cls_sd = model.classifier_state_dict(sd)
    plain = ImageClassifier(
        backbone=dict(type='ResNet32CIFAR', depth=20, base_channels=4),
        neck=dict(type='GlobalAveragePooling'))
    plain.load_state_dict(cls_sd, strict=True)


def test_extract_cluster_feat_is_normalised_projection():
    model = _build(_sbcl_cfg())
    model.eval()
    views, _, _, _ = _batch()
    z = model.extract_cluster_feat(views)  # list: first view
    torch.testing.assert_close(z, model.embed(views[0])[1])
    torch.testing.assert_close(z.norm(dim=1), torch.ones(6))


def test_moco_sbcl_queue_carries_class_and_subclass():
    model = _build(_moco_cfg())
    assert model.queue.num_label_fields == 2
    # warm-up: KCL over the queue; keys enqueued with subclass -1
    views, samples, labels, _ = _batch(seed=1)
    model.fill_queue(views, samples)
    keys, cls, sub = model.queue_state()
    assert cls[:6].tolist() == labels.tolist()
    assert sub[:6].tolist() == [-1] * 6 and sub[6:].tolist() == [-1] * 10
    views, samples, labels, _ = _batch(seed=2)
    losses = model.loss(views, samples)
    assert set(losses) == {'loss_warmup', 'sbcl_ready'}
    with torch.no_grad():
        q = model.embed(views[0])[1]
        k = model.momentum_keys(views[1], update=False)
    expected = kcl_loss(
        q,
        k,
        labels,
        keys,
        cls,
        2,
        0.07,
        'random',
        step=int(model.encoder_k.steps),
        row_offset=0)
    torch.testing.assert_close(
        losses['loss_warmup'].detach(), expected, rtol=1e-5, atol=1e-6)

    # after clustering: SBCL queue loss with stale (-1) and fresh ids
    labels_by_idx, sub_ids, tau2 = _clustering()
    model.set_subclasses(sub_ids, tau2)
    views, samples, labels, idx = _consistent_batch(labels_by_idx, seed=3)
    keys, cls, qsub = model.queue_state()
    losses = model.loss(views, samples)
    assert set(losses) == {'loss_sbcl', 'sbcl_ready'}
    with torch.no_grad():
        q = model.embed(views[0])[1]
        k = model.momentum_keys(views[1], update=False)
    expected = sbcl_queue_loss(
        q, k, labels, sub_ids[idx], keys, cls, qsub, tau2, tau1=0.07, beta=0.2)
    torch.testing.assert_close(
        losses['loss_sbcl'].detach(), expected, rtol=1e-5, atol=1e-6)
    _, cls_after, sub_after = model.queue_state()
    # newest 6 slots (12..17 mod 16) hold this batch with its subclass ids
    slots = [(12 + i) % 16 for i in range(6)]
    assert cls_after[slots].tolist() == labels.tolist()
    assert sub_after[slots].tolist() == sub_ids[idx].tolist()


def test_moco_sbcl_momentum_cluster_features():
    model = _build(_moco_cfg())
    model.eval()
    views, _, _, _ = _batch()
    z_m = model.extract_cluster_feat(views[0])  # default: momentum
    z_o = model.extract_cluster_feat(views[0], source='online')
    # encoders start equal (init_weights syncs them)
    torch.testing.assert_close(z_m, z_o)
    with pytest.raises(ValueError, match='source'):
        model.extract_cluster_feat(views[0], source='teacher')
