# Copyright (c) ltcls contributors. All rights reserved.
"""PaCo and ResCom end to end:

* a 2-process gloo run equals the 1-process run on the same global batch
  (per-GPU in-batch banks emulated with ``group_size``): losses, parameter
  gradients (DDP averaging), and queue / momentum-encoder / weights after
  several SGD steps;
* resuming a Runner checkpoint mid-training restores queue, pointer,
  centers and momentum encoder exactly, and the next step is bit-equal to
  the uninterrupted run.
"""
import copy
import os.path as osp

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.structures import DataSample

from ltcls.registry import MODELS
from ltcls.testing import run_distributed

COUNTS = [20, 10, 5, 3]
GLOBAL_BATCH, STEPS = 8, 4


def _model(method, group_size=None):
    torch.manual_seed(0)
    # GroupNorm and no BN in the projector: per-sample computations, so the
    # only cross-sample coupling is the loss / queue under test.
    common = dict(
        backbone=dict(
            type='ResNet32CIFAR',
            depth=20,
            norm_cfg=dict(type='GN', num_groups=4)),
        projector=dict(type='ProjectionMLP', in_channels=64, out_channels=8),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=64),
        feat_dim=8,
        data_preprocessor=dict(num_classes=4))
    if method == 'paco':
        cfg = dict(
            type='PaCo',
            queue_len=12,
            queue_init='random',
            loss=dict(
                type='PaCoLoss',
                alpha=0.1,
                temperature=0.2,
                class_counts=COUNTS,
                group_size=group_size),
            **common)
    else:
        cfg = dict(
            type='ResCom',
            queue_size_per_cls=3,
            loss=dict(
                type='ResComLoss',
                num_pos=2,
                num_neg=6,
                class_counts=COUNTS,
                group_size=group_size),
            **common)
    model = MODELS.build(cfg)
    if method == 'paco':
        model._sync_momentum_encoder()
    return model.double()


def _data(step):
    g = torch.Generator().manual_seed(100 + step)
    views = [
        torch.randn(GLOBAL_BATCH, 3, 8, 8, generator=g, dtype=torch.float64)
        for _ in range(2)
    ]
    labels = torch.randint(0, 4, (GLOBAL_BATCH, ), generator=g)
    return views, labels


def _train(method, rank=0, world=1):
    model = _model(method, group_size=None if world > 1 else GLOBAL_BATCH // 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    n = GLOBAL_BATCH // world
    losses, grads = [], None
    for step in range(STEPS):
        views, labels = _data(step)
        sl = slice(rank * n, (rank + 1) * n)
        views, labels = [v[sl] for v in views], labels[sl]
        samples = [DataSample().set_gt_label(int(y)) for y in labels]
        loss = sum(model.loss(views, samples).values())
        opt.zero_grad()
        loss.backward()
        loss = loss.detach().clone()
        if world > 1:  # what DDP does with the gradients
            for p in model.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= world
            dist.all_reduce(loss)
            loss /= world
        losses.append(loss)
        if step == 0:
            grads = {
                k: p.grad.clone()
                for k, p in model.named_parameters() if p.grad is not None
            }
        opt.step()
    return dict(
        losses=torch.stack(losses),
        grads=grads,
        state=dict(model.state_dict()))


def _dist_worker(rank, world_size):
    return {m: _train(m, rank, world_size) for m in ('paco', 'rescom')}


def test_two_processes_equal_one_process():
    results = run_distributed(_dist_worker, 2)
    for method in ('paco', 'rescom'):
        single = _train(method)
        assert single['grads'], method
        for r in results:
            res = r[method]
            torch.testing.assert_close(
                res['losses'], single['losses'], atol=1e-10, rtol=0)
            assert set(res['grads']) == set(single['grads'])
            for k, g in single['grads'].items():
                torch.testing.assert_close(
                    res['grads'][k],
                    g,
                    atol=1e-10,
                    rtol=0,
                    msg=f'{method} grad {k}')
            assert set(res['state']) == set(single['state'])
            for k, v in single['state'].items():
                if v.is_floating_point():
                    torch.testing.assert_close(
                        res['state'][k],
                        v,
                        atol=1e-10,
                        rtol=0,
                        msg=f'{method} {k}')
                else:
                    assert torch.equal(res['state'][k], v), (method, k)
        # the queues really were written during the run
        if method == 'paco':
            assert int(single['state']['queue.ptr']) == \
                STEPS * GLOBAL_BATCH % 12
        else:
            assert single['state']['queue.ptr'].sum() > 0


# ---------------------------------------------------------------------------
# resume
# ---------------------------------------------------------------------------
CONFIGS = {
    'paco': 'configs/paco/paco_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
    'rescom':
    'configs/rescom/rescom_resnet32_1xb32-coslr-40e_digits-lt-if50.py',
}


class _Capture(Hook):
    """Snapshot the model state before and after the iteration ``at``."""
    priority = 'LOWEST'

    def __init__(self, at):
        self.at = at
        self.before = self.after = self.outputs = None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            self.before = copy.deepcopy(runner.model.state_dict())

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter == self.at:  # called before the loop's iter += 1
            self.after = copy.deepcopy(runner.model.state_dict())
            self.outputs = {k: v.clone() for k, v in outputs.items()}


def _cfg(repo_root, method, work_dir, max_epochs):
    cfg = Config.fromfile(osp.join(repo_root, CONFIGS[method]))
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.depth = 20
    cfg.train_dataloader.batch_size = 64
    cfg.train_dataloader.dataset.image_size = 16
    # deterministic two-view data (the RNG state is not checkpointed)
    cfg.train_dataloader.dataset.pipeline = [
        dict(type='MultiView', num_views=[1, 1], transforms=[[], []]),
        dict(type='PackInputs'),
    ]
    cfg.train_cfg = dict(
        by_epoch=True, max_epochs=max_epochs, val_interval=100)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.param_scheduler = [
        dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=3)
    ]
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=3)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.randomness = dict(seed=3, deterministic=True)
    cfg.log_level = 'WARNING'
    if method == 'paco':
        cfg.model.queue_len = 96
        cfg.model.queue_init = 'random'
    else:
        cfg.model.queue_size_per_cls = 4
        cfg.model.loss.num_neg = 12
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize('method', ['paco', 'rescom'])
def test_resume_next_step_is_bit_equal(repo_root, tmp_path, method):
    iters_per_epoch = 6  # 342 images / 64
    full = Runner.from_cfg(_cfg(repo_root, method, tmp_path / 'full', 2))
    cap_full = _Capture(iters_per_epoch)
    full.register_hook(cap_full)
    full.train()

    part = Runner.from_cfg(_cfg(repo_root, method, tmp_path / 'part', 1))
    part.train()
    cfg = _cfg(repo_root, method, tmp_path / 'part', 2)
    cfg.resume = True
    cfg.load_from = str(tmp_path / 'part' / 'epoch_1.pth')
    resumed = Runner.from_cfg(cfg)
    cap_res = _Capture(iters_per_epoch)
    resumed.register_hook(cap_res)
    resumed.train()

    assert cap_full.before is not None and cap_res.before is not None
    keys = set(cap_full.before)
    assert keys == set(cap_res.before)
    must_have = ['queue.keys', 'queue.ptr', 'head.fc.weight', 'head.fc.bias']
    must_have += ['queue.labels', 'encoder_k.steps'] if method == 'paco' \
        else ['queue.filled']
    assert set(must_have) <= keys
    if method == 'paco':
        assert any(k.startswith('encoder_k.module.') for k in keys)
        assert int(cap_res.before['encoder_k.steps']) == iters_per_epoch
        assert int(cap_res.before['queue.ptr']) == 342 % 96  # last batch: 22
    # state restored exactly: queue, pointer, centers, momentum encoder...
    for k in keys:
        assert torch.equal(cap_full.before[k], cap_res.before[k]), k
    # ... and the next step is bit-equal
    assert set(cap_full.outputs) == set(cap_res.outputs)
    for k in cap_full.outputs:
        assert torch.equal(cap_full.outputs[k], cap_res.outputs[k]), k
    for k in keys:
        assert torch.equal(cap_full.after[k], cap_res.after[k]), k
    # and the step did change the queue
    assert not torch.equal(cap_full.before['queue.keys'],
                           cap_full.after['queue.keys'])
