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
    old_keys, old_labels = model.queue.snapshot()[:2]
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


def _reference_no_mining_loss(scores, z, labels, queue_keys, queue_labels,
                              counts, beta, tau, lam):
    """Independent float64 reference of the official-code ResCom loss when
    mining keeps every queue key: per-anchor loop over [in-batch others |
    all filled queue slots], SiamBS over both views' rows."""
    scores, z, queue_keys = (t.double() for t in (scores, z, queue_keys))
    counts = torch.tensor(counts, dtype=torch.float64)
    n = labels.numel()
    log_prior = torch.log(counts / counts.sum())
    all_labels = labels.repeat(2)
    loss_cls = sum(-torch.log_softmax(scores[r] + log_prior, 0)[all_labels[r]]
                   for r in range(2 * n)) / (2 * n)
    eff = (1 - beta**counts) / (1 - beta)
    weight = eff.mean() / eff
    filled = [j for j in range(queue_labels.numel()) if queue_labels[j] >= 0]
    total = 0.0
    for a in range(2 * n):
        cols, pos = [], []
        for j in range(2 * n):
            if j != a:
                cols.append(z[a] @ z[j] / tau)
                pos.append(bool(all_labels[j] == all_labels[a]))
        for j in filled:
            cols.append(z[a] @ queue_keys[j] / tau)
            pos.append(bool(queue_labels[j] == all_labels[a]))
        logits = torch.stack(cols)
        log_prob = logits - torch.logsumexp(logits, 0)
        pos = torch.tensor(pos)
        total = total + weight[all_labels[a]] * -log_prob[pos].mean()
    return loss_cls, lam * total / (2 * n)


def test_fifo_queue_ablation_matches_reference():
    """queue_type='fifo' (the "original queue" of paper Fig. 3): one global
    FIFO of K * Q labelled keys; with num_pos = num_neg = K * Q nothing is
    mined away, so the loss is class-balanced SupCon over the whole queue
    (Eq. 2 + the official in-batch block), checked in float64."""
    length = 4 * 3
    model = _build(
        queue_type='fifo',
        queue_init='empty',
        loss=dict(
            type='ResComLoss',
            num_pos=length,
            num_neg=length,
            effective_num_beta=0.9,
            class_counts=COUNTS)).double()
    assert model.queue.length == length
    assert model.queue.num_filled() == 0
    batches = [_batch(seed=1), _batch(seed=2)]
    for step, (views, labels, samples) in enumerate(batches):
        views = [v.double() for v in views]
        ref = copy.deepcopy(model)
        old_keys, old_labels = model.queue.snapshot()[:2]
        out = model.loss(views, samples)
        feats = ref.extract_feat(torch.cat(views))
        scores = ref.head.fc(feats[-1])
        z = F.normalize(ref.projector(feats)[0], dim=1)
        exp_cls, exp_con = _reference_no_mining_loss(scores, z, labels,
                                                     old_keys, old_labels,
                                                     COUNTS, 0.9, 0.2, 0.5)
        torch.testing.assert_close(
            out['loss_cls'], exp_cls, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(
            out['loss_con'], exp_con, atol=1e-6, rtol=1e-6)
        # FIFO write of view 1, in batch order, whatever the class
        slots = slice(6 * step, 6 * step + 6)
        torch.testing.assert_close(
            model.queue.keys[slots], z[:6].detach(), atol=1e-12, rtol=0)
        assert model.queue.labels[slots].tolist() == labels.tolist()
        assert int(model.queue.ptr) == (6 * step + 6) % length
    # the queue is long-tailed like the batches: class 0 fills 8 of 12
    assert model.queue.labels.tolist().count(0) == 8


def test_fifo_queue_errors():
    with pytest.raises(ValueError, match='queue_type'):
        _build(queue_type='reversed')
    with pytest.raises(ValueError, match='queue_init'):
        _build(queue_type='fifo')  # default init is 'random'
    with pytest.raises(ValueError, match='num_neg'):
        _build(
            queue_type='fifo',
            queue_init='empty',
            loss=dict(
                type='ResComLoss', num_pos=1, num_neg=13, class_counts=COUNTS))
