"""DetPreciseBNHook: BN statistics = the mean over training batches of the
per-batch statistics (checked against a hand-written float64 reference, on
one and two processes); runs once at the end (or every `interval`); never
touches the train loop's own sampler state (mmdet's AspectRatioBatchSampler
over an InfiniteSampler used to make a second iterator loop forever)."""
import itertools

import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ltcls.engine.hooks.det_precise_bn_hook import (DetPreciseBNHook,
                                                    precise_bn_loader,
                                                    update_bn_stats_loss_mode)
from ltcls.testing import run_distributed

EPS = 1e-5


class TinyNet(BaseModel):
    """conv-BN-ReLU-conv-BN; records the forward modes it was called in."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 4, 1)
        self.bn1 = nn.BatchNorm2d(4, eps=EPS)
        self.conv2 = nn.Conv2d(4, 5, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(5, eps=EPS)
        with torch.no_grad():  # non-trivial affine parameters
            self.bn1.weight.uniform_(0.5, 1.5)
            self.bn1.bias.uniform_(-0.5, 0.5)
        self.modes = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.modes.append(mode)
        x = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(inputs)))))
        if mode == 'loss':
            return dict(loss=x.pow(2).mean())
        return x


class Images(Dataset):

    def __init__(self, n, seed=0, size=(6, 5), dtype=torch.float64):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 3, *size, generator=g, dtype=dtype)
        self.x += torch.arange(n, dtype=dtype).view(n, 1, 1, 1)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i])


def _collate(batch):
    return dict(inputs=torch.stack([b['inputs'] for b in batch]))


def reference_stats(net, batches):
    """Per-batch mean / unbiased variance at each BN input, averaged over
    the batches; the BN layers normalise with the batch statistics."""
    means = [[], []]
    vars_ = [[], []]

    def bn_train(x, bn, i):
        dims = (0, 2, 3)
        mu = x.mean(dims)
        means[i].append(mu)
        vars_[i].append(x.var(dims, unbiased=True))
        var_b = x.var(dims, unbiased=False)
        xhat = (x - mu.view(1, -1, 1, 1)) / torch.sqrt(
            var_b.view(1, -1, 1, 1) + EPS)
        return xhat * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)

    with torch.no_grad():
        for x in batches:
            h = bn_train(net.conv1(x), net.bn1, 0)
            bn_train(net.conv2(F.relu(h)), net.bn2, 1)
    return ([torch.stack(m).mean(0) for m in means],
            [torch.stack(v).mean(0) for v in vars_])


def test_update_matches_reference():
    net = TinyNet().double().train()
    loader = DataLoader(Images(16), batch_size=4, collate_fn=_collate)
    before_momentum = (net.bn1.momentum, net.bn2.momentum)
    used = update_bn_stats_loss_mode(net, loader, num_samples=12)
    assert used == 3
    assert net.modes == ['loss'] * 3  # the training forward
    batches = [b['inputs'] for b in itertools.islice(loader, 3)]
    means, vars_ = reference_stats(net, batches)
    for bn, mu, var in zip((net.bn1, net.bn2), means, vars_):
        torch.testing.assert_close(bn.running_mean, mu, atol=1e-6, rtol=0)
        torch.testing.assert_close(bn.running_var, var, atol=1e-6, rtol=0)
    assert (net.bn1.momentum, net.bn2.momentum) == before_momentum
    # not the last batch's statistics alone
    last_means, _ = reference_stats(net, batches[-1:])
    assert not torch.allclose(net.bn1.running_mean, last_means[0])


def test_number_of_batches_capped_and_at_least_one():
    net = TinyNet().double().train()
    loader = DataLoader(Images(8), batch_size=4, collate_fn=_collate)
    assert update_bn_stats_loss_mode(net, loader, num_samples=1000) == 2
    net.modes.clear()
    assert update_bn_stats_loss_mode(net, loader, num_samples=1) == 1
    assert net.modes == ['loss']


def test_no_bn_in_training_mode_is_a_no_op():
    net = TinyNet().double().eval()
    loader = DataLoader(Images(8), batch_size=4, collate_fn=_collate)
    mean = net.bn1.running_mean.clone()
    assert update_bn_stats_loss_mode(net, loader, num_samples=8) == 0
    assert net.modes == [] and torch.equal(net.bn1.running_mean, mean)


def _dist_worker(rank, world_size):
    net = TinyNet().double().train()
    loader = DataLoader(
        Images(8, seed=10 + rank), batch_size=2, collate_fn=_collate)
    # 8 samples over 2 ranks x batch 2 -> 2 batches per rank
    used = update_bn_stats_loss_mode(net, loader, num_samples=8)
    return dict(
        used=used,
        mean1=net.bn1.running_mean,
        var1=net.bn1.running_var,
        mean2=net.bn2.running_mean,
        var2=net.bn2.running_var)


@pytest.mark.slow
def test_two_processes_average_all_batches():
    results = run_distributed(_dist_worker, 2)
    assert [r['used'] for r in results] == [2, 2]
    net = TinyNet().double().train()
    batches = []
    for rank in range(2):
        loader = DataLoader(
            Images(8, seed=10 + rank), batch_size=2, collate_fn=_collate)
        batches += [b['inputs'] for b in itertools.islice(loader, 2)]
    means, vars_ = reference_stats(net, batches)
    for r in results:
        torch.testing.assert_close(r['mean1'], means[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(r['var1'], vars_[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(r['mean2'], means[1], atol=1e-6, rtol=0)
        torch.testing.assert_close(r['var2'], vars_[1], atol=1e-6, rtol=0)


class SizedImages(Dataset):
    """Indices as items, with the width / height mmdet's batch sampler
    reads."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def get_data_info(self, idx):
        return dict(width=8, height=6)

    def __getitem__(self, idx):
        return idx


def test_precise_bn_loader_leaves_the_train_iterator_alone():
    from mmdet.datasets.samplers import AspectRatioBatchSampler
    from mmengine.dataset import InfiniteSampler
    ds = SizedImages(6)
    train = DataLoader(
        ds,
        batch_sampler=AspectRatioBatchSampler(
            InfiniteSampler(ds, shuffle=True, seed=0), batch_size=2),
        collate_fn=list)
    train_iter = iter(train)
    first = next(train_iter)  # suspended right after yielding a bucket
    loader = precise_bn_loader(train, seed=0)
    assert loader.batch_size == 2 and loader.batch_sampler is not None
    batches = list(itertools.islice(loader, 10))  # finite: one pass
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert all(len(b) == 2 for b in batches)
    # the training stream continues: a full epoch of the infinite sampler
    # consists of the permutation it started
    rest = [next(train_iter) for _ in range(2)]
    assert sorted(first + rest[0] + rest[1]) == list(range(6))


def test_batch_size_must_be_known():
    loader = DataLoader(Images(4), batch_size=None, collate_fn=_collate)
    with pytest.raises(ValueError, match='cannot tell the batch size'):
        precise_bn_loader(loader)


@pytest.mark.parametrize('num_samples,interval', [(0, None), (4, 0),
                                                  (4.0, None)])
def test_bad_arguments(num_samples, interval):
    with pytest.raises(ValueError):
        DetPreciseBNHook(num_samples=num_samples, interval=interval)


def _runner(tmp_path, hook, by_epoch):
    from mmengine.runner import Runner
    train_cfg = dict(by_epoch=True, max_epochs=2) if by_epoch else dict(
        by_epoch=False, max_iters=5)
    sampler = dict(type='DefaultSampler', shuffle=True) if by_epoch else \
        dict(type='InfiniteSampler', shuffle=True)
    return Runner(
        model=TinyNet(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=Images(8, size=(4, 4), dtype=torch.float32),
            sampler=sampler,
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.0)),
        train_cfg=train_cfg,
        custom_hooks=[hook],
        default_hooks=dict(checkpoint=None, logger=None))


@pytest.mark.parametrize('by_epoch,interval,runs', [(False, None, 1),
                                                    (False, 2, 3),
                                                    (True, None, 1),
                                                    (True, 1, 2)])
def test_hook_runs_at_the_end(tmp_path, by_epoch, interval, runs):
    hook = DetPreciseBNHook(num_samples=4, interval=interval)
    runner = _runner(tmp_path, hook, by_epoch)
    runner.train()
    assert hook.num_runs == runs
    # each run = 2 batches of 2 in 'loss' mode on top of the training ones
    train_iters = 5 if not by_epoch else 2 * 4
    assert runner.model.modes.count('loss') == train_iters + 2 * runs
