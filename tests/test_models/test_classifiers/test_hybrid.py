# Copyright (c) ltcls contributors. All rights reserved.
"""HybridSC / HybridPSC: composition of the two branches, BN passes, alpha,
gradient routing, predict == ImageClassifier, errors."""
import copy
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.structures import DataSample

from ltcls.models.classifiers.hybrid import HybridClassifier
from ltcls.registry import MODELS

NUM_CLASSES, D_E, D_S, B = 5, 16, 8, 6


def _cfg(kind='HybridSC', **kwargs):
    cfg = dict(
        type=kind,
        backbone=dict(type='ResNet32CIFAR', depth=20, base_channels=4),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=NUM_CLASSES,
            in_channels=D_E,
            loss=dict(type='CrossEntropyLoss')),
        projector=dict(
            type='ProjectionMLP', in_channels=D_E, out_channels=D_S),
        data_preprocessor=dict(num_classes=NUM_CLASSES))
    cfg.update(kwargs)
    return cfg


def _batch(seed=0, b=B):
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(b, 3, 16, 16, generator=g) for _ in range(3)]
    labels = torch.randint(0, NUM_CLASSES, (b, ), generator=g)
    labels[:2] = torch.tensor([1, 1])  # at least one in-batch positive pair
    cls_labels = torch.randint(0, NUM_CLASSES, (b, ), generator=g)
    samples = []
    for y, c in zip(labels, cls_labels):
        s = DataSample().set_gt_label(int(y))
        s.set_field(torch.tensor([int(c)]), 'cls_gt_label')
        samples.append(s)
    return views, samples, labels, cls_labels


def ref_supcon(z, y, tau):
    """Per-anchor loop of SupCon L_out (self excluded, mean over anchors with
    positives)."""
    n = z.shape[0]
    losses = []
    for i in range(n):
        pos = [j for j in range(n) if j != i and y[j] == y[i]]
        if not pos:
            continue
        den = sum(torch.exp(z[i] @ z[k] / tau) for k in range(n) if k != i)
        losses.append(-sum(
            torch.log(torch.exp(z[i] @ z[j] / tau) / den)
            for j in pos) / len(pos))
    return sum(losses) / len(losses)


def ref_psc(z, y, protos, tau):
    p = F.normalize(protos, dim=1)
    out = []
    for i in range(z.shape[0]):
        s = [float(z[i] @ p[c]) / tau for c in range(p.shape[0])]
        den = sum(torch.exp(torch.tensor(v)) for c, v in enumerate(s)
                  if c != int(y[i]))
        out.append(-(s[int(y[i])] - torch.log(den)))
    return sum(out) / len(out)


def _manual_branches(model, views, separate=False):
    """Backbone -> GAP of the concatenated batch, split by branch."""
    con = torch.cat(views[:2])
    if separate:
        r_con = model.neck(model.backbone(con))[-1]
        r_cls = model.neck(model.backbone(views[2]))[-1]
    else:
        r = model.neck(model.backbone(torch.cat([con, views[2]])))[-1]
        r_con, r_cls = r[:2 * B], r[2 * B:]
    z = model.projector(r_con)
    z = F.normalize(z[-1] if isinstance(z, (tuple, list)) else z, dim=1)
    return r_con, r_cls, z


@pytest.mark.parametrize('kind', ['HybridSC', 'HybridPSC'])
@pytest.mark.parametrize('separate', [False, True])
def test_loss_is_weighted_sum_of_branches(kind, separate):
    torch.manual_seed(0)
    model = MODELS.build(_cfg(kind, separate_bn_passes=separate)).double()
    model.train()
    model.alpha = 0.3
    views, samples, labels, cls_labels = _batch()
    views = [v.double() for v in views]
    ref_model = copy.deepcopy(model)
    losses = model.loss(views, samples)
    r_con, r_cls, z = _manual_branches(ref_model, views, separate)
    con_labels = torch.cat([labels, labels])
    if kind == 'HybridSC':
        ref_con = ref_supcon(z, con_labels, 0.1)
    else:
        ref_con = ref_psc(z, con_labels,
                          ref_model.loss_module.prototypes.detach(), 0.1)
    ref_ce = F.cross_entropy(ref_model.head.fc(r_cls), cls_labels)
    assert abs(float(losses['con_unweighted']) - float(ref_con.detach())) < 1e-6
    assert abs(float(losses['ce_unweighted']) - float(ref_ce.detach())) < 1e-6
    assert abs(float(losses['loss_con']) - 0.3 * float(ref_con.detach())) < 1e-6
    assert abs(float(losses['loss_cls']) - 0.7 * float(ref_ce.detach())) < 1e-6


def test_one_pass_shares_bn_statistics():
    torch.manual_seed(0)
    joint = MODELS.build(_cfg()).train()
    sep = copy.deepcopy(joint)
    sep.separate_bn_passes = True
    views, samples, _, _ = _batch()
    lj = joint.loss(views, samples)
    ls = sep.loss(views, samples)
    # different BN statistics -> different losses in train mode
    assert abs(float(lj['ce_unweighted']) - float(ls['ce_unweighted'])) > 1e-6
    # the joint pass updated the running stats with all 3B images at once
    bn = 'backbone.bn1.running_mean'
    assert not torch.allclose(joint.state_dict()[bn], sep.state_dict()[bn])


@pytest.mark.parametrize('kind', ['HybridSC', 'HybridPSC'])
def test_alpha_routes_gradients(kind):
    torch.manual_seed(0)
    base = MODELS.build(_cfg(kind)).train()
    views, samples, _, _ = _batch()
    for alpha in (0.0, 1.0, 0.5):
        model = copy.deepcopy(base)
        model.alpha = alpha
        losses = model.loss(views, samples)
        model.parse_losses(losses)[0].backward()
        head_g = model.head.fc.weight.grad.abs().sum()
        proj_g = sum(p.grad.abs().sum() for p in model.projector.parameters())
        assert (head_g > 0) == (alpha < 1)
        assert (proj_g > 0) == (alpha > 0)
        if kind == 'HybridPSC':
            proto_g = model.loss_module.prototypes.grad.abs().sum()
            assert (proto_g > 0) == (alpha > 0)
        assert model.backbone.conv1.weight.grad.abs().sum() > 0
    _, log_vars = base.parse_losses(base.loss(views, samples))
    assert {'loss', 'loss_con', 'loss_cls', 'con_unweighted',
            'ce_unweighted'} <= set(log_vars)


def test_predict_equals_image_classifier():
    torch.manual_seed(0)
    hybrid = MODELS.build(_cfg('HybridPSC')).eval()
    cfg = _cfg('ImageClassifier')
    cfg.pop('projector')
    plain = MODELS.build(cfg).eval()
    sd = hybrid.state_dict()
    assert 'loss_module.prototypes' in sd
    stripped = HybridClassifier.classifier_state_dict(sd)
    assert not any(k.startswith(('projector.', 'loss_module.'))
                   for k in stripped)
    plain.load_state_dict(stripped, strict=True)
    x = torch.randn(4, 3, 16, 16)
    a = hybrid.predict(x)
    b = plain.predict(x)
    for sa, sb in zip(a, b):
        assert torch.equal(sa.pred_score, sb.pred_score)
    out = hybrid(x, mode='predict')
    assert torch.equal(out[0].pred_score, b[0].pred_score)


def test_psc_loss_sizes_from_head_and_projector():
    model = MODELS.build(_cfg('HybridPSC'))
    loss = model.loss_module
    assert (loss.num_classes, loss.feat_dim) == (NUM_CLASSES, D_S)
    assert loss.temperature == 0.1
    params = dict(model.named_parameters())
    assert 'loss_module.prototypes' in params
    model = MODELS.build(
        _cfg('HybridPSC',
             loss=dict(type='PSCLoss', temperature=1.0)))
    assert model.loss_module.temperature == 1.0
    with pytest.raises(ValueError, match='feat_dim'):
        MODELS.build(
            _cfg('HybridPSC',
                 loss=dict(type='PSCLoss', feat_dim=16)))
    with pytest.raises(ValueError, match='num_classes'):
        MODELS.build(
            _cfg('HybridPSC',
                 loss=dict(type='PSCLoss', num_classes=7)))
    sc = MODELS.build(_cfg('HybridSC'))
    assert type(sc.loss_module).__name__ == 'SupConLoss'
    assert sc.loss_module.temperature == 0.1


def test_ce_ce_ablation():
    torch.manual_seed(0)
    model = MODELS.build(
        _cfg('HybridClassifier', projector=None,
             feature_loss='ce')).double().train()
    assert model.projector is None and model.loss_module is None
    model.alpha = 0.5
    views, samples, labels, cls_labels = _batch()
    views = [v.double() for v in views]
    ref_model = copy.deepcopy(model)
    losses = model.loss(views, samples)
    r = ref_model.neck(ref_model.backbone(torch.cat(views)))[-1]
    logits = ref_model.head.fc(r)
    ref_con = F.cross_entropy(logits[:2 * B], torch.cat([labels, labels]))
    ref_ce = F.cross_entropy(logits[2 * B:], cls_labels)
    assert abs(float(losses['con_unweighted']) - float(ref_con.detach())) < 1e-6
    assert abs(float(losses['ce_unweighted']) - float(ref_ce.detach())) < 1e-6


def test_errors():
    model = MODELS.build(_cfg())
    views, samples, _, _ = _batch()
    with pytest.raises(ValueError, match='1 classifier view'):
        model.loss(views + [views[0]], samples)
    with pytest.raises(ValueError, match='views'):
        model.loss(views[:2], samples)
    for s in samples:
        del s.cls_gt_label
    with pytest.raises(ValueError, match='cls_gt_label'):
        model.loss(views, samples)
    with pytest.raises(ValueError, match='alpha'):
        model.alpha = 1.5
    with pytest.raises(ValueError, match='projector'):
        MODELS.build(_cfg('HybridSC', projector=None))
    with pytest.raises(ValueError, match='head'):
        MODELS.build(_cfg('HybridSC', head=None))
    with pytest.raises(ValueError, match='feature_loss'):
        MODELS.build(_cfg('HybridSC', feature_loss='mse'))


@pytest.mark.slow
@pytest.mark.parametrize('method', ['hybrid-sc', 'hybrid-psc'])
def test_digits_config_trains_end_to_end(repo_root, tmp_path, method):
    """One epoch of the DigitsLT config (shrunk backbone) through the
    Runner: two-stream data, curriculum hook, LongTailAccuracy."""
    from mmengine.runner import Runner
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs', 'hybrid',
                 f'{method}_resnet32_1xb32-coslr-40e_digits-lt-if50.py'))
    cfg.work_dir = str(tmp_path)
    cfg.model.backbone = dict(type='ResNet32CIFAR', depth=20, base_channels=4)
    cfg.model.projector.in_channels = 16
    cfg.model.projector.hid_channels = 16
    cfg.model.head.in_channels = 16
    cfg.train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=2)
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    # parabolic alpha of the 2nd (last) epoch: 1 - (1/2)^2
    assert model.alpha == pytest.approx(0.75)
    hub = runner.message_hub
    assert hub.get_scalar('train/alpha').current() == pytest.approx(0.75)
    for key in ('train/loss_con', 'train/loss_cls', 'train/loss'):
        assert torch.isfinite(torch.tensor(hub.get_scalar(key).current()))
    metrics = runner.val()
    for key in ('accuracy/top1', 'accuracy/many', 'accuracy/medium',
                'accuracy/few'):
        assert key in metrics
    assert osp.exists(osp.join(str(tmp_path), 'epoch_2.pth'))
