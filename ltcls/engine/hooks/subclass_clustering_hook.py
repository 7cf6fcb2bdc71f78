# Copyright (c) ltcls contributors. All rights reserved.
"""Re-cluster the training set into subclasses during SBCL stage 1.

Algorithm 2 of SBCL (spec_sbcl §3.5, §10.5): warm up for ``start_epoch``
epochs (the model uses its warm-up loss while ``cluster_ready`` is False),
then before epochs ``start_epoch, start_epoch + interval, ...``:

1. embed the whole training set with the current network (eval mode, no
   grad; each rank embeds a shard, features, labels and ``sample_idx`` are
   all-gathered);
2. on rank 0, with a fixed seed: per-class k-means into
   ``m_c = max(1, floor(n_c / max(n_min, delta)))`` subclasses
   (:func:`~ltcls.models.utils.cluster_subclasses`) and the per-class
   temperatures (:func:`~ltcls.models.utils.class_temperature`);
3. broadcast the subclass ids (indexed by ``sample_idx``) and temperatures
   from rank 0 and write them into the model's buffers
   (``model.set_subclasses``), so every rank and every data-loader worker
   sees the same values and checkpoints carry them (resume continues with
   the same subclasses);
4. optionally (ImageNet-LT recipe) clear the optimizer state at the first
   clustering, as the released code re-creates its optimizer when SBCL
   starts; the LR restart itself is the config's ``CosineRestartLR``.

The schedule does not depend on ``start_epoch % interval`` (§3.5 decision).
"""
import copy
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Optional, Tuple

import torch
from mmengine.dist import broadcast, get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from ltcls.registry import DATASETS, HOOKS
from ltcls.models.utils.gather import concat_all_gather
from ltcls.models.utils.subclass_clustering import (CLUSTER_ALGOS,
                                                    INIT_METHODS,
                                                    TEMPERATURE_MODES,
                                                    class_temperature,
                                                    cluster_subclasses)

__all__ = ['SubclassClusteringHook']


@contextmanager
def _torch_threads(num: Optional[int]):
    if num is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(num))
    try:
        yield
    finally:
        torch.set_num_threads(old)


# feature_loader=dict(...): how the training set is embedded.
FEATURE_LOADER_DEFAULTS = dict(
    pipeline=None, batch_size=None, num_workers=None, feature_source=None)
# clustering=dict(...): the per-class clustering and the class temperatures.
# `delta` has no default (it is required).
CLUSTERING_DEFAULTS = dict(
    n_min=None,
    algo='balanced_greedy',
    init='kmeans++',
    max_iters=50,
    tol=1e-3,
    seed=0,
    temperature_mode='exp',
    alpha=10.0,
    clip_percentiles=None,
    tau1=None,
    fixed_tau2=None,
    tail_tau2='dynamic',
    num_threads=1)
CLUSTERING_KEYS = ('delta', ) + tuple(CLUSTERING_DEFAULTS)

# the flat arguments of the first version -> (group, key in the group)
MOVED_ARGS = {
    'delta': ('clustering', 'delta'),
    'n_min': ('clustering', 'n_min'),
    'cluster_algo': ('clustering', 'algo'),
    'init': ('clustering', 'init'),
    'max_iters': ('clustering', 'max_iters'),
    'tol': ('clustering', 'tol'),
    'seed': ('clustering', 'seed'),
    'temperature_mode': ('clustering', 'temperature_mode'),
    'alpha': ('clustering', 'alpha'),
    'clip_percentiles': ('clustering', 'clip_percentiles'),
    'tau1': ('clustering', 'tau1'),
    'fixed_tau2': ('clustering', 'fixed_tau2'),
    'tail_tau2': ('clustering', 'tail_tau2'),
    'num_threads': ('clustering', 'num_threads'),
    'feature_source': ('feature_loader', 'feature_source'),
    'feat_pipeline': ('feature_loader', 'pipeline'),
    'feat_batch_size': ('feature_loader', 'batch_size'),
    'feat_num_workers': ('feature_loader', 'num_workers'),
}


def _group(name: str, value, defaults: dict, required=()) -> dict:
    """``defaults`` updated with the dict ``value``; unknown or missing
    keys are refused with the list of the group's keys."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise TypeError(f'SubclassClusteringHook: {name} must be a dict, got '
                        f'{type(value).__name__}')
    allowed = tuple(required) + tuple(defaults)
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise TypeError(
            f'SubclassClusteringHook: unknown key(s) {unknown} in {name}=dict'
            f'(...); expected a subset of {list(allowed)}')
    missing = [k for k in required if k not in value]
    if missing:
        raise TypeError(f'SubclassClusteringHook: {name}=dict(...) needs '
                        f'{missing}')
    out = dict(defaults)
    out.update(value)
    return out


@HOOKS.register_module()
class SubclassClusteringHook(Hook):
    """Subclass clustering + class temperatures for SBCL.

    The arguments are grouped as in mmselfsup's ``DeepClusterHook``
    (``extract_dataloader=dict(...)``, ``clustering=dict(...)``): the
    schedule is flat, how the features are extracted is ``feature_loader``,
    the clustering and temperature parameters are ``clustering``. The flat
    arguments of the first version (``delta=``, ``cluster_algo=``,
    ``feat_batch_size=``, ...) are refused with the name of their new place.

    Example::

        dict(type='SubclassClusteringHook', start_epoch=10, interval=10,
             clustering=dict(delta=10, algo='kmeans', init='random'),
             feature_loader=dict(batch_size=128, feature_source='momentum'))

    Args:
        start_epoch (int): T0, the first clustering epoch (0-based; epochs
            before it are the warm-up). 10 on CIFAR, 200 on ImageNet-LT.
        interval (int): K, re-cluster every ``interval`` epochs after
            ``start_epoch``. 10 on CIFAR, 5 on ImageNet-LT.
        clustering (dict): The per-class clustering and the class
            temperatures (rank 0):

            - ``delta`` (int, required): δ of the cluster-size rule. 10
              CIFAR, 20 ImageNet-LT / iNaturalist.
            - ``n_min`` (int, optional): Tail size; defaults to the smallest
              class.
            - ``algo`` (str): ``'balanced_greedy'`` (paper, default) or
              ``'kmeans'`` (released code).
            - ``init`` (str): ``'kmeans++'`` (default) or ``'random'``.
            - ``max_iters`` (int): Lloyd iterations. Defaults to 50.
            - ``tol`` (float): Convergence tolerance. Defaults to 1e-3.
            - ``seed`` (int): Seed of the clustering. Defaults to 0.
            - ``temperature_mode`` (str): ``'exp'`` (paper Eq. 6, default),
              ``'linear'`` (CIFAR code) or ``'fixed'`` (ImageNet code).
            - ``alpha`` (float): α of Eq. 5. Defaults to 10.
            - ``clip_percentiles`` (tuple, optional): e.g. ``(20, 80)``
              (CIFAR code).
            - ``tau1`` (float, optional): Defaults to the model's ``tau1``.
            - ``fixed_tau2`` (float, optional): For
              ``temperature_mode='fixed'``.
            - ``tail_tau2`` (str): ``'dynamic'`` (paper, default) or
              ``'tau1'`` (code).
            - ``num_threads`` (int, optional): torch threads during the
              clustering (restored afterwards). Defaults to 1: the
              clustering is a long chain of small ops, which gain little
              from threads and slow down badly on a busy CPU
              (tools/analysis_tools/benchmark_clustering.py). None leaves the
              setting unchanged.
        feature_loader (dict, optional): How the training set is embedded:

            - ``pipeline`` (list, optional): Pipeline of a separate dataset
              built from ``train_dataloader.dataset`` (e.g. a deterministic
              test pipeline). Defaults to None: the training dataset
              itself, first view (the released code).
            - ``batch_size`` (int, optional): Defaults to the train batch
              size.
            - ``num_workers`` (int, optional): Defaults to the train
              loader's.
            - ``feature_source`` (str, optional): ``'online'`` or
              ``'momentum'``; defaults to the model's
              ``cluster_feat_source``.
        reset_optimizer (bool): Clear the optimizer state (momentum
            buffers) at ``start_epoch``. Defaults to False.
    """

    priority = 'NORMAL'

    def __init__(self,
                 start_epoch: int,
                 interval: int,
                 clustering: Optional[dict] = None,
                 feature_loader: Optional[dict] = None,
                 reset_optimizer: bool = False,
                 **kwargs):
        for key in kwargs:
            if key in MOVED_ARGS:
                group, new = MOVED_ARGS[key]
                raise TypeError(f"SubclassClusteringHook: '{key}' moved to "
                                f'{group}=dict({new}=...)')
            raise TypeError(f'SubclassClusteringHook: unexpected argument '
                            f'{key!r}; expected start_epoch, interval, '
                            'clustering, feature_loader, reset_optimizer')
        if clustering is None:
            raise TypeError('SubclassClusteringHook: clustering=dict('
                            'delta=...) is required')
        clustering = _group('clustering', clustering, CLUSTERING_DEFAULTS,
                            required=('delta', ))
        feature_loader = _group('feature_loader', feature_loader,
                                FEATURE_LOADER_DEFAULTS)
        c, fl = clustering, feature_loader
        if int(start_epoch) < 0:
            raise ValueError(f'SubclassClusteringHook: start_epoch must be '
                             f'>= 0, got {start_epoch}')
        if int(interval) < 1:
            raise ValueError(f'SubclassClusteringHook: interval must be >= '
                             f'1, got {interval}')
        if int(c['delta']) < 1:
            raise ValueError(f'SubclassClusteringHook: clustering.delta must '
                             f"be >= 1, got {c['delta']}")
        if c['algo'] not in CLUSTER_ALGOS:
            raise ValueError(f'SubclassClusteringHook: clustering.algo must '
                             f"be one of {CLUSTER_ALGOS}, got {c['algo']!r}")
        if c['init'] not in INIT_METHODS:
            raise ValueError(f'SubclassClusteringHook: clustering.init must '
                             f"be one of {INIT_METHODS}, got {c['init']!r}")
        if c['temperature_mode'] not in TEMPERATURE_MODES:
            raise ValueError(
                'SubclassClusteringHook: clustering.temperature_mode must be '
                f"one of {TEMPERATURE_MODES}, got {c['temperature_mode']!r}")
        if c['temperature_mode'] == 'fixed' and c['fixed_tau2'] is None:
            raise ValueError('SubclassClusteringHook: clustering.'
                             "temperature_mode='fixed' needs clustering."
                             'fixed_tau2')
        if c['tail_tau2'] not in ('dynamic', 'tau1'):
            raise ValueError('SubclassClusteringHook: clustering.tail_tau2 '
                             f"must be 'dynamic' or 'tau1', got "
                             f"{c['tail_tau2']!r}")
        if fl['feature_source'] not in (None, 'online', 'momentum'):
            raise ValueError('SubclassClusteringHook: feature_loader.'
                             "feature_source must be None, 'online' or "
                             f"'momentum', got {fl['feature_source']!r}")
        c['delta'] = int(c['delta'])
        c['max_iters'] = int(c['max_iters'])
        c['tol'] = float(c['tol'])
        c['seed'] = int(c['seed'])
        c['alpha'] = float(c['alpha'])
        self.start_epoch = int(start_epoch)
        self.interval = int(interval)
        self.clustering = c
        self.feature_loader = fl
        self.reset_optimizer = reset_optimizer
        self._feat_loader = None

    # ------------------------------------------------------------------
    @staticmethod
    def _model(runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        for attr in ('set_subclasses', 'extract_cluster_feat',
                     'init_subclass_buffer'):
            if not hasattr(model, attr):
                raise TypeError(
                    f'SubclassClusteringHook needs an SBCL model (with '
                    f'`{attr}`), got {type(model).__name__}')
        return model

    def is_cluster_epoch(self, epoch: int) -> bool:
        return epoch >= self.start_epoch and \
            (epoch - self.start_epoch) % self.interval == 0

    def before_run(self, runner) -> None:
        """Size the model's subclass buffer to the train set (before a
        checkpoint is loaded or resumed)."""
        model = self._model(runner)
        model.init_subclass_buffer(len(runner.train_dataloader.dataset))

    def before_train_epoch(self, runner) -> None:
        if not self.is_cluster_epoch(runner.epoch):
            return
        hub = getattr(runner, 'message_hub', None)
        if hub is not None and hub.get_info('resumed_batches', 0):
            # resumed inside this epoch (ExactResumeHook): its clustering
            # was done before the checkpoint, which holds the result
            return
        model = self._model(runner)
        first = not model.is_cluster_ready
        self.cluster(runner, model)
        if self.reset_optimizer and runner.epoch == self.start_epoch:
            self._reset_optimizer(runner)
        if first:
            print_log(
                f'SubclassClusteringHook: epoch {runner.epoch}: warm-up '
                'over, training with the SBCL loss',
                logger='current')

    # ------------------------------------------------------------------
    def _build_feat_loader(self, runner):
        if self._feat_loader is not None:
            return self._feat_loader
        train_loader = runner.train_dataloader
        fl = self.feature_loader
        if fl['pipeline'] is None:
            dataset = train_loader.dataset
        else:
            cfg = copy.deepcopy(runner.cfg.train_dataloader['dataset'])
            if 'pipeline' not in cfg:
                raise ValueError(
                    'SubclassClusteringHook: feature_loader.pipeline needs '
                    'a train_dataloader.dataset config with a top-level '
                    '`pipeline` key')
            cfg['pipeline'] = list(fl['pipeline'])
            dataset = DATASETS.build(cfg)
            if len(dataset) != len(train_loader.dataset):
                raise ValueError(
                    f'SubclassClusteringHook: the feature dataset has '
                    f'{len(dataset)} samples, the training set '
                    f'{len(train_loader.dataset)}')
        self._feat_loader = Runner.build_dataloader(
            dict(
                dataset=dataset,
                batch_size=fl['batch_size'] or train_loader.batch_size,
                num_workers=train_loader.num_workers
                if fl['num_workers'] is None else fl['num_workers'],
                persistent_workers=False,
                sampler=dict(
                    type='DefaultSampler', shuffle=False, round_up=False)))
        return self._feat_loader

    @torch.no_grad()
    def extract(self, runner, model) -> Tuple[torch.Tensor, ...]:
        """(features (N, d), labels (N,), sample_idx (N,)) of the whole
        training set, gathered from all ranks, on the CPU, sorted by
        ``sample_idx``."""
        loader = self._build_feat_loader(runner)
        was_training = model.training
        model.eval()
        feats, labels, idx = [], [], []
        try:
            for data in loader:
                data = model.data_preprocessor(data, False)
                z = model.extract_cluster_feat(data['inputs'],
                                               self.feature_loader[
                                                   'feature_source'])
                samples = data['data_samples']
                feats.append(z.float())
                labels.append(model.get_gt_labels(samples).to(z.device))
                idx.append(
                    torch.tensor([int(s.sample_idx) for s in samples],
                                 dtype=torch.long,
                                 device=z.device))
        finally:
            model.train(was_training)
        device = next(model.parameters()).device
        if not feats:  # fewer training samples than ranks
            raise RuntimeError('SubclassClusteringHook: this rank received '
                               'no training sample to embed')
        feats, labels, idx = torch.cat(feats), torch.cat(labels), \
            torch.cat(idx)
        feats = concat_all_gather(feats.to(device)).cpu()
        labels = concat_all_gather(labels.to(device)).cpu()
        idx = concat_all_gather(idx.to(device)).cpu()
        # dataset order: the clustering then does not depend on how the
        # samples were sharded (number of ranks, sampler)
        order = torch.argsort(idx, stable=True)
        return feats[order], labels[order], idx[order]

    def cluster(self, runner, model) -> None:
        """Embed, cluster on rank 0, broadcast, install in the model."""
        t0 = time.perf_counter()
        feats, labels, idx = self.extract(runner, model)
        n_train = model.subclass_labels.numel()
        if len(idx) != n_train or len(torch.unique(idx)) != n_train:
            raise RuntimeError(
                f'SubclassClusteringHook: embedded {len(idx)} samples '
                f'({len(torch.unique(idx))} distinct sample_idx) but the '
                f'model holds {n_train} subclass ids')
        t1 = time.perf_counter()
        device = model.subclass_labels.device
        num_classes = model.num_classes
        sub_by_idx = torch.full((n_train, ), -1, dtype=torch.long)
        tau2 = torch.zeros(num_classes)
        stats = ''
        if get_rank() == 0:
            c = self.clustering
            tau1 = float(c['tau1'] if c['tau1'] is not None else model.tau1)
            with _torch_threads(c['num_threads']):
                res = cluster_subclasses(
                    feats,
                    labels,
                    num_classes,
                    c['delta'],
                    algo=c['algo'],
                    init=c['init'],
                    max_iters=c['max_iters'],
                    tol=c['tol'],
                    seed=c['seed'],
                    n_min=c['n_min'])
                tau2 = class_temperature(
                    feats,
                    labels,
                    num_classes,
                    tau1,
                    mode=c['temperature_mode'],
                    alpha=c['alpha'],
                    clip_percentiles=c['clip_percentiles'],
                    fixed_tau2=c['fixed_tau2'],
                    num_subclasses=res.num_subclasses,
                    tail_tau2=c['tail_tau2'])
            sub_by_idx[idx] = res.sub_labels
            m = res.num_subclasses.numpy()
            sizes = res.sizes[res.sizes > 0].float()
            it = res.iterations[res.num_subclasses > 1]
            stats = (
                f'{int(m.sum())} subclasses ({int((m > 1).sum())} classes '
                f'split, max {int(m.max())}), sizes min/mean/max '
                f'{int(sizes.min())}/{sizes.mean():.1f}/{int(sizes.max())}, '
                f'tau2 min/mean/max {float(tau2.min()):.4f}/'
                f'{float(tau2.mean()):.4f}/{float(tau2.max()):.4f}, '
                'Lloyd iterations mean '
                f'{float(it.float().mean()) if it.numel() else 0.0:.1f}')
        sub_by_idx = sub_by_idx.to(device)
        tau2 = tau2.to(device)
        broadcast(sub_by_idx, src=0)
        broadcast(tau2, src=0)
        model.set_subclasses(sub_by_idx, tau2)
        if stats:
            print_log(
                f'SubclassClusteringHook: epoch {runner.epoch}: {stats}; '
                f'embedding {t1 - t0:.1f} s, clustering '
                f'{time.perf_counter() - t1:.1f} s',
                logger='current')

    @staticmethod
    def _reset_optimizer(runner) -> None:
        """Clear SGD momentum / Adam moments (the code re-creates its
        optimizer when SBCL starts); param groups and LR are kept."""
        wrapper = runner.optim_wrapper
        wrappers = wrapper.values() if hasattr(wrapper, 'values') and \
            not hasattr(wrapper, 'optimizer') else [wrapper]
        for w in wrappers:
            w.optimizer.state = defaultdict(dict)
        print_log(
            'SubclassClusteringHook: optimizer state reset at epoch '
            f'{runner.epoch}',
            logger='current')
