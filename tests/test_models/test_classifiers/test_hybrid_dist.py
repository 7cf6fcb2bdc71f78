# Copyright (c) ltcls contributors. All rights reserved.
"""HybridSC / HybridPSC at model level: one ``model.loss`` + backward on a
global batch split over 2 gloo ranks (wrapped in torch DDP, which averages
the parameter gradients) equals the same global batch on 1 process: total
loss and the gradients of every parameter (backbone, projector, linear
head, PSC prototypes), in float64.

BN: the models run with their BatchNorm layers in eval mode. In train mode
each rank normalises with the statistics of its own sub-batch, which
legitimately differs from the statistics of the global batch (SyncBN would
be needed for equality), so train-mode BN is not comparable here.

Splits: 4 / 4 (what ``DualStreamSampler`` produces: every rank gets
``ceil(len / world_size)`` pairs) and 5 / 3. The contrastive branch
(``SupConLoss`` / ``PSCLoss``) reduces through ``reduce_anchor_loss`` and
is exact for any split. The CE branch is ``LinearClsHead``'s mean over the
*local* batch; before ``HybridClassifier`` rescaled it by
``n_local * W / n_global`` the 5 / 3 split failed here (a per-rank mean
averaged by DDP is not the global mean for unequal batch sizes).
"""
import pytest
import torch
from mmpretrain.structures import DataSample
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from ltcls.registry import MODELS
from ltcls.testing import run_distributed

NUM_CLASSES, D_E, D_S = 5, 16, 8
KINDS = ('HybridSC', 'HybridPSC')


def _cfg(kind):
    return dict(
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


def _build(kind, alpha):
    torch.manual_seed(0)  # same initial weights (and prototypes) everywhere
    model = MODELS.build(_cfg(kind)).double()
    model.init_weights()
    model.train()
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.eval()  # see module docstring
    model.alpha = alpha
    return model


def _global_batch(b):
    g = torch.Generator().manual_seed(1)
    views = [
        torch.randn(b, 3, 16, 16, generator=g, dtype=torch.float64)
        for _ in range(3)
    ]
    labels = torch.randint(0, NUM_CLASSES, (b, ), generator=g)
    labels[:2] = 1  # positive pairs across ranks (rows 0, 1 vs the last)
    labels[-1] = 1
    labels[2] = 4  # a class with one sample: its two views only
    labels[3:-1][labels[3:-1] == 4] = 0
    cls_labels = torch.randint(0, NUM_CLASSES, (b, ), generator=g)
    return views, labels, cls_labels


def _samples(labels, cls_labels):
    out = []
    for y, c in zip(labels.tolist(), cls_labels.tolist()):
        s = DataSample().set_gt_label(y)
        s.set_field(torch.tensor([c]), 'cls_gt_label')
        out.append(s)
    return out


def _step(model, views, labels, cls_labels, wrapper=None):
    """One forward (mode='loss') + backward; (losses, {name: grad})."""
    net = wrapper if wrapper is not None else model
    losses = net(views, _samples(labels, cls_labels), mode='loss')
    total, _ = model.parse_losses(losses)
    total.backward()
    grads = {
        name: p.grad.clone()
        for name, p in model.named_parameters() if p.grad is not None
    }
    out = {k: v.detach() for k, v in losses.items()}
    out['total'] = total.detach()
    return out, grads


def _dist_hybrid(rank, world_size, split, alpha):
    views, labels, cls_labels = _global_batch(sum(split))
    start = sum(split[:rank])
    sl = slice(start, start + split[rank])
    out = {}
    for kind in KINDS:
        model = _build(kind, alpha)
        ddp = DistributedDataParallel(model, find_unused_parameters=True)
        out[kind] = _step(model, [v[sl] for v in views], labels[sl],
                          cls_labels[sl], ddp)
    return out


def _single(kind, b, alpha):
    views, labels, cls_labels = _global_batch(b)
    model = _build(kind, alpha)
    losses, grads = _step(model, views, labels, cls_labels)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return losses, grads, names


def _check(split, alpha, keys):
    res = run_distributed(_dist_hybrid, 2, split, alpha)
    for kind in KINDS:
        losses, grads, names = _single(kind, sum(split), alpha)
        for key in keys:
            # per-rank losses of the global-mean reduction average to the
            # 1-process loss (DDP averages their gradients the same way)
            mean = (res[0][kind][0][key] + res[1][kind][0][key]) / 2
            torch.testing.assert_close(
                mean, losses[key], rtol=0, atol=1e-10, msg=f'{kind} {key}')
        for r in res:
            assert set(r[kind][1]) == set(grads)
            for name, g in grads.items():
                # DDP has already averaged over the ranks
                torch.testing.assert_close(
                    r[kind][1][name],
                    g,
                    rtol=0,
                    atol=1e-10,
                    msg=f'{kind} {name}')
        yield kind, grads, names


@pytest.mark.parametrize('split', [(4, 4), (5, 3)])
def test_two_process_equals_single_process(split):
    keys = ('total', 'loss_con', 'loss_cls', 'con_unweighted', 'ce_unweighted')
    for kind, grads, names in _check(split, 0.4, keys):
        # every parameter is trained by one of the branches and compared
        assert set(grads) == names, kind
        assert any(n.startswith('backbone.') for n in grads)
        assert any(n.startswith('projector.') for n in grads)
        assert any(n.startswith('head.') for n in grads)
        if kind == 'HybridPSC':
            assert 'loss_module.prototypes' in grads
            assert grads['loss_module.prototypes'].abs().sum() > 0
