# Copyright (c) ltcls contributors. All rights reserved.
"""ContrastiveClassifier: predict/state-dict parity with ImageClassifier,
momentum encoder, shuffle-BN, queue filling."""
import copy

import pytest
import torch
from mmpretrain.models import ImageClassifier
from mmpretrain.structures import DataSample

from ltcls.models.classifiers import ContrastiveClassifier
from ltcls.registry import MODELS
from ltcls.testing import run_distributed
from ltcls.utils.training_state import TRAINING_ONLY_PREFIXES

PRE = dict(mean=[0., 0., 0.], std=[1., 1., 1.])


def _cfg(**kwargs):
    cfg = dict(
        type='ContrastiveClassifier',
        backbone=dict(type='ResNet32CIFAR', depth=20),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=64),
        projector=dict(type='ProjectionMLP', in_channels=64, out_channels=16),
        momentum=0.1,
        queue=dict(length=12, dim=16),
        data_preprocessor=PRE)
    cfg.update(kwargs)
    return cfg


def _build(seed=0, **kwargs):
    torch.manual_seed(seed)
    model = MODELS.build(_cfg(**kwargs))
    model.init_weights()
    return model


def _samples(labels):
    return [DataSample().set_gt_label(int(y)) for y in labels]


def _images(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 16, 16, generator=g)


def test_predict_and_state_dict_match_image_classifier():
    model = _build().eval()
    plain = ImageClassifier(
        backbone=dict(type='ResNet32CIFAR', depth=20),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=64),
        data_preprocessor=PRE).eval()
    sd = model.state_dict()
    assert any(k.startswith(TRAINING_ONLY_PREFIXES) for k in sd)
    plain.load_state_dict(
        ContrastiveClassifier.classifier_state_dict(sd), strict=True)
    x = _images(4)
    ours = model(x, _samples([0, 1, 2, 3]), mode='predict')
    ref = plain(x, _samples([0, 1, 2, 3]), mode='predict')
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a.pred_score, b.pred_score, rtol=0, atol=0)
        assert torch.equal(a.pred_label, b.pred_label)
    torch.testing.assert_close(model(x), plain(x), rtol=0, atol=0)


def test_momentum_encoder_starts_equal_and_follows_ema():
    model = _build()
    online = model.online_encoder.state_dict()
    for k, v in model.encoder_k.module.state_dict().items():
        assert torch.equal(v, online[k]), k
    x = _images(4)
    model.momentum_keys(x)  # step 0: copy
    assert int(model.encoder_k.steps) == 1
    before = {
        k: v.clone()
        for k, v in model.encoder_k.module.named_parameters()
    }
    with torch.no_grad():
        for p in model.online_encoder.parameters():
            p.add_(0.5)
    keys = model.momentum_keys(x)
    online = dict(model.online_encoder.named_parameters())
    for k, p in model.encoder_k.module.named_parameters():
        torch.testing.assert_close(p, 0.9 * before[k] + 0.1 * online[k])
        assert not p.requires_grad
    assert keys.shape == (4, 16) and not keys.requires_grad
    torch.testing.assert_close(keys.norm(dim=1), torch.ones(4))


def test_embed_and_project_are_normalised():
    model = _build(projector=None, momentum=None, queue=None)
    feats, z = model.embed(_images(3))
    assert z.shape == (3, 64)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(z,
                               torch.nn.functional.normalize(feats[-1], dim=1))
    assert z.requires_grad
    with pytest.raises(RuntimeError, match='momentum'):
        model.momentum_keys(_images(2))
    with pytest.raises(RuntimeError, match='queue'):
        model.fill_queue([_images(2)], _samples([0, 1]))


def test_fill_queue_does_not_update_the_momentum_encoder():
    model = _build()
    before = copy.deepcopy(model.encoder_k.state_dict())
    model.fill_queue([_images(5), _images(5, 2)], _samples([0, 1, 2, 3, 4]))
    assert model.queue.labels.tolist()[:5] == [0, 1, 2, 3, 4]
    assert model.queue.num_filled() == 5
    for k, v in model.encoder_k.state_dict().items():
        if 'running' not in k and 'num_batches' not in k:
            assert torch.equal(v, before[k]), k
    # keys come from the key view through the momentum encoder
    expected = model.momentum_keys(_images(5, 2), update=False)
    torch.testing.assert_close(model.queue.keys[:5], expected)


def test_errors():
    model = _build()
    with pytest.raises(TypeError, match='MultiView'):
        model.split_views(_images(2))
    with pytest.raises(ValueError, match='2 views'):
        model.split_views([_images(2)])
    with pytest.raises(ValueError, match='gt_label'):
        model.get_gt_labels([DataSample()])
    with pytest.raises(NotImplementedError):
        model.loss([_images(2), _images(2)], _samples([0, 1]))
    with pytest.raises(TypeError, match='single'):
        model.predict([_images(2)])
    headless = _build(head=None)
    with pytest.raises(RuntimeError, match='no classification head'):
        headless.predict(_images(2))
    with pytest.raises(ValueError, match='momentum'):
        MODELS.build(_cfg(momentum=1.5))
    with pytest.raises(ValueError, match='queue'):
        MODELS.build(_cfg(queue=dict(length=4)))
    assert torch.equal(
        model.get_gt_labels(_samples([3, 1])), torch.tensor([3, 1]))


# --- shuffle-BN on 2 ranks returns every sample's own key ---------------
def _dist_keys(rank, world_size):
    model = _build(seed=0).eval()  # BN running stats: per-sample keys
    x = _images(6)[rank * 3:(rank + 1) * 3]
    torch.manual_seed(rank)  # different shuffles would break unshuffle
    return model.momentum_keys(x, update=False)


def test_shuffle_bn_two_ranks_recovers_the_order():
    single = _build(seed=0).eval().momentum_keys(_images(6), update=False)
    res = run_distributed(_dist_keys, 2)
    torch.testing.assert_close(torch.cat(res), single, rtol=0, atol=1e-6)


@pytest.mark.parametrize('momentum', [None, 0.1])
def test_supcon_classifier_loss(momentum):
    from ltcls.models.losses import supcon_loss
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='SupConClassifier',
            backbone=dict(type='ResNet32CIFAR', depth=20),
            head=dict(type='LinearClsHead', num_classes=5, in_channels=64),
            projector=dict(
                type='ProjectionMLP', in_channels=64, out_channels=16),
            loss=dict(type='SupConLoss', temperature=0.1),
            momentum=momentum,
            queue=dict(length=8, dim=16),
            data_preprocessor=PRE))
    model.init_weights()
    v = [_images(4, 1), _images(4, 2)]
    labels = torch.tensor([0, 1, 0, 2])
    model.fill_queue(v, _samples([1, 0, 3]) + _samples([2]))
    qk, ql = model.queue.keys.clone(), model.queue.labels.clone()
    losses = model.loss(v, _samples(labels))
    assert set(losses) == {'loss_supcon', 'loss'}
    with torch.no_grad():
        z = model.embed(torch.cat(v))[1]
    expected = supcon_loss(z, labels.repeat(2), qk, ql, temperature=0.1)
    torch.testing.assert_close(
        losses['loss_supcon'].detach(), expected, rtol=1e-5, atol=1e-6)
    assert model.queue.labels[4:8].tolist() == labels.tolist()
