# Copyright (c) ltcls contributors. All rights reserved.
"""PaCo / GPaCo algorithm: step semantics, queue, EMA, predict parity."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from ltcls.models.classifiers import ContrastiveClassifier
from ltcls.models.losses import paco_loss
from ltcls.registry import MODELS

COUNTS = [20, 10, 5, 3]


def _cfg(**kwargs):
    cfg = dict(
        type='PaCo',
        backbone=dict(type='ResNet32CIFAR', depth=20),
        projector=dict(
            type='ProjectionMLP',
            in_channels=64,
            out_channels=16,
            norm_cfg=dict(type='BN1d')),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=64),
        queue_len=24,
        feat_dim=16,
        loss=dict(
            type='PaCoLoss', alpha=0.1, temperature=0.2, class_counts=COUNTS),
        data_preprocessor=dict(num_classes=4))
    cfg.update(kwargs)
    return cfg


def _build(seed=0, **kwargs):
    torch.manual_seed(seed)
    model = MODELS.build(_cfg(**kwargs))
    model._sync_momentum_encoder() if model.encoder_k is not None else None
    return model


def _batch(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(n, 3, 16, 16, generator=g) for _ in range(2)]
    labels = torch.randint(0, 4, (n, ), generator=g)
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    return views, labels, samples


def test_step_matches_manual_computation():
    model = _build()
    views, labels, samples = _batch()
    old_keys = model.queue.keys.clone()
    old_labels = model.queue.labels.clone()
    ref = copy.deepcopy(model)
    out = model.loss(views, samples)
    assert set(out) == {'loss_paco'}
    # manual: query forward, EMA update (m = 0.999) then key forward
    feats = ref.extract_feat(views[0])
    q = F.normalize(ref.projector(feats)[0], dim=1)
    logits = ref.head.fc(feats[-1])
    ref.encoder_k.update_parameters(ref.online_encoder)
    k = F.normalize(ref.encoder_k(views[1])[0], dim=1)
    prior = torch.tensor(COUNTS, dtype=torch.float64)
    expected = paco_loss(
        logits,
        q,
        labels,
        k,
        labels,
        old_keys,
        old_labels,
        alpha=0.1,
        temperature=0.2,
        log_prior=(prior / prior.sum()).log().float())
    torch.testing.assert_close(
        out['loss_paco'], expected, atol=1e-6, rtol=1e-6)
    # the keys of this batch were enqueued after the loss
    torch.testing.assert_close(model.queue.keys[:6], k, atol=1e-6, rtol=0)
    assert torch.equal(model.queue.labels[:6], labels)
    assert (model.queue.labels[6:] == -1).all()
    assert int(model.queue.ptr) == 6
    # momentum encoder moved towards the online encoder exactly once
    assert int(model.encoder_k.steps) == int(ref.encoder_k.steps)
    for (n1, p1), (_, p2) in zip(model.encoder_k.module.named_parameters(),
                                 ref.encoder_k.module.named_parameters()):
        assert torch.equal(p1, p2), n1


def test_gradients_reach_centers_backbone_but_not_keys():
    model = _build()
    views, _, samples = _batch()
    for _ in range(5):  # wrap the 24-slot queue
        loss = model.loss(views, samples)['loss_paco']
    loss.backward()
    assert model.head.fc.weight.grad.abs().sum() > 0
    assert model.head.fc.bias.grad.abs().sum() > 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.projector.mlp[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.encoder_k.parameters())
    assert model.queue.num_filled() == 24 and int(model.queue.ptr) == 6


def test_gpaco_variant_both_views_no_momentum():
    model = _build(
        momentum=None,
        anchor_views='both',
        loss=dict(
            type='PaCoLoss',
            alpha=0.05,
            label_smoothing=0.1,
            class_counts=COUNTS))
    assert model.encoder_k is None
    views, labels, samples = _batch()
    ref = copy.deepcopy(model)
    out = model.loss(views, samples)['loss_paco']
    f1, f2 = ref.extract_feat(views[0]), ref.extract_feat(views[1])
    z1 = F.normalize(ref.projector(f1)[0], dim=1)
    z2 = F.normalize(ref.projector(f2)[0], dim=1)
    logits = torch.cat([ref.head.fc(f1[-1]), ref.head.fc(f2[-1])])
    prior = torch.tensor(COUNTS, dtype=torch.float64)
    expected = paco_loss(
        logits,
        torch.cat([z1, z2]),
        labels.repeat(2),
        queue_keys=torch.zeros(24, 16),
        queue_labels=torch.full((24, ), -1),
        alpha=0.05,
        label_smoothing=0.1,
        num_samples=6,
        log_prior=(prior / prior.sum()).log().float())
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(model.queue.keys[:6], z2, atol=1e-6, rtol=0)
    out.backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_random_queue_init_is_the_official_one():
    model = _build(queue_init='random')
    keys, labels = model.queue.snapshot()[:2]
    assert ((labels >= 0) & (labels < 4)).all()
    # MoCo habit: normalised along dim 0 (columns), not per key
    torch.testing.assert_close(keys.norm(dim=0), torch.ones(16))
    assert not torch.allclose(keys.norm(dim=1), torch.ones(24))


def test_predict_is_image_classifier_predict():
    model = _build().eval()
    views, labels, samples = _batch()
    sd = ContrastiveClassifier.classifier_state_dict(model.state_dict())
    plain = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet32CIFAR', depth=20),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=4, in_channels=64)))
    plain.load_state_dict(sd, strict=True)
    plain.eval()
    a = model.predict(views[0])
    b = plain.predict(views[0])
    for x, y in zip(a, b):
        assert torch.equal(x.pred_score, y.pred_score)


def test_places_recipe_freezes_convs_except_last_block():
    model = _build(trainable_conv=['layers.2'])
    for name, p in model.backbone.named_parameters():
        is_conv = p.dim() == 4
        if is_conv:
            assert p.requires_grad == name.startswith('layers.2.'), name
        else:  # BN affine parameters stay trainable
            assert p.requires_grad, name
    assert all(p.requires_grad for p in model.head.parameters())
    assert all(p.requires_grad for p in model.projector.parameters())
    views, _, samples = _batch()
    model.loss(views, samples)['loss_paco'].backward()
    assert model.backbone.conv1.weight.grad is None
    with pytest.raises(ValueError, match='matches no Conv2d'):
        _build(trainable_conv=['layer4.2'])


def test_errors():
    with pytest.raises(ValueError, match='GPaCo'):
        _build(momentum=None)
    with pytest.raises(ValueError, match='GPaCo'):
        _build(anchor_views='both')
    with pytest.raises(ValueError, match='queue_init'):
        _build(queue_init='zeros')
    with pytest.raises(ValueError, match='projector'):
        _build(projector=None)
    model = _build()
    views, _, samples = _batch()
    with pytest.raises(TypeError, match='MultiView'):
        model.loss(views[0], samples)
