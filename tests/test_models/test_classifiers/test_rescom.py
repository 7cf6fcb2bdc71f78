# Copyright (c) ltcls contributors. All rights reserved.
"""ResCom algorithm: step semantics, class-balanced queue, predict parity."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from ltcls.models.classifiers import ContrastiveClassifier
from ltcls.models.losses import ResComLoss
from ltcls.registry import MODELS

COUNTS = [20, 10, 5, 3]


def _cfg(**kwargs):
    cfg = dict(
        type='ResCom',
        backbone=dict(type='ResNet32CIFAR', depth=20),
        projector=dict(
            type='ProjectionMLP',
            in_channels=64,
            out_channels=16,
            norm_cfg=dict(type='BN1d')),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=64),
        queue_size_per_cls=3,
        feat_dim=16,
        loss=dict(
            type='ResComLoss',
            num_pos=1,
            num_neg=5,
            effective_num_beta=0.99,
            class_counts=COUNTS),
        data_preprocessor=dict(num_classes=4))
    cfg.update(kwargs)
    return cfg


def _build(seed=0, **kwargs):
    torch.manual_seed(seed)
    return MODELS.build(_cfg(**kwargs))


def _batch(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(n, 3, 16, 16, generator=g) for _ in range(2)]
    labels = torch.tensor([0, 0, 0, 0, 1, 3])[:n]
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    return views, labels, samples


@pytest.mark.parametrize('variant', ['code', 'paper'])
def test_step_matches_manual_computation(variant):
    model = _build(
        loss=dict(
            type='ResComLoss',
            variant=variant,
            num_pos=2,
            num_neg=5,
            class_counts=COUNTS))
    views, labels, samples = _batch()
    ref = copy.deepcopy(model)
    old_keys, old_labels = (t.clone() for t in model.queue.get())
    out = model.loss(views, samples)
    assert set(out) == {'loss_cls', 'loss_con'}
    # manual: both views in one forward (shared encoder, BN over 2N)
    feats = ref.extract_feat(torch.cat(views))
    scores = ref.head.fc(feats[-1])
    z = F.normalize(ref.projector(feats)[0], dim=1)
    loss_mod = ResComLoss(
        variant=variant, num_pos=2, num_neg=5, class_counts=COUNTS)
    expected = loss_mod(scores, z, labels, old_keys, old_labels)
    for key in expected:
        torch.testing.assert_close(
            out[key], expected[key], atol=1e-6, rtol=1e-6)
    # enqueue view: 1st in the official code, 2nd in Algorithm 1; class 0
    # had 4 keys for 3 slots -> the last 3 survive, pointer wraps to 1
    v = 0 if variant == 'code' else 1
    zq = z[v * 6:(v + 1) * 6]
    torch.testing.assert_close(
        model.queue.keys[[1, 2, 0]], zq[[1, 2, 3]], atol=1e-6, rtol=0)
    torch.testing.assert_close(model.queue.keys[3], zq[4], atol=1e-6, rtol=0)
    torch.testing.assert_close(model.queue.keys[9], zq[5], atol=1e-6, rtol=0)
    assert model.queue.ptr.tolist() == [1, 1, 0, 1]
    assert torch.equal(model.queue.keys[6:9], old_keys[6:9])  # class 2
    sum(out.values()).backward()
    assert model.head.fc.weight.grad.abs().sum() > 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_empty_queue_init_masks_unfilled_slots():
    model = _build(queue_init='empty')
    assert model.queue.num_filled() == 0
    views, _, samples = _batch()
    out = model.loss(views, samples)
    assert all(torch.isfinite(v) for v in out.values())
    assert model.queue.num_filled() == 5  # 3 (class 0) + 1 + 1


def test_predict_is_image_classifier_predict():
    model = _build().eval()
    views, _, _ = _batch()
    sd = ContrastiveClassifier.classifier_state_dict(model.state_dict())
    assert not any(k.startswith(('queue.', 'projector.')) for k in sd)
    plain = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet32CIFAR', depth=20),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=4, in_channels=64)))
    plain.load_state_dict(sd, strict=True)
    plain.eval()
    for x, y in zip(model.predict(views[0]), plain.predict(views[0])):
        assert torch.equal(x.pred_score, y.pred_score)


def test_errors():
    with pytest.raises(ValueError, match='num_pos'):
        _build(
            loss=dict(
                type='ResComLoss', num_pos=4, num_neg=5, class_counts=COUNTS))
    with pytest.raises(ValueError, match='num_neg'):
        _build(loss=dict(type='ResComLoss', num_neg=10, class_counts=COUNTS))
    with pytest.raises(ValueError, match='enqueue_view'):
        _build(enqueue_view=2)
    with pytest.raises(ValueError, match='init'):
        _build(queue_init='zeros')
    with pytest.raises(ValueError, match='num_classes'):
        _build(head=dict(type='LinearClsHead', num_classes=0, in_channels=64))
