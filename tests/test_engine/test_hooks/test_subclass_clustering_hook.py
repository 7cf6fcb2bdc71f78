# Copyright (c) ltcls contributors. All rights reserved.
"""SubclassClusteringHook: schedule, result equal to a direct clustering of
the model's embeddings, optimizer reset, resume keeps the subclass ids, and
two ranks hold the same ids (rank 0 clusters and broadcasts)."""
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.datasets.base_dataset import BaseDataset

from ltcls.engine.hooks import SubclassClusteringHook
from ltcls.models.utils.subclass_clustering import (class_temperature,
                                                    cluster_subclasses)
from ltcls.registry import DATASETS, MODELS
from ltcls.testing import run_distributed

COUNTS = (16, 9, 5)  # delta 3 -> M = 5: 3 + 1 + 1 subclasses


@DATASETS.register_module(force=True)
class ToySBCLDataset(BaseDataset):
    """30 random 8x8 images of 3 classes, labels NOT sorted by class."""

    METAINFO = {'classes': ('a', 'b', 'c')}

    def __init__(self, seed=0, pipeline=(), **kwargs):
        self.seed = seed
        kwargs.setdefault('ann_file', '')
        super().__init__(pipeline=pipeline, **kwargs)

    def load_data_list(self):
        rng = np.random.RandomState(self.seed)
        labels = rng.permutation(np.repeat(np.arange(3), COUNTS))
        imgs = rng.randint(0, 256, (len(labels), 8, 8, 3)).astype(np.uint8)
        return [
            dict(img=imgs[i], gt_label=int(labels[i]))
            for i in range(len(labels))
        ]


TWO_VIEW = [
    dict(
        type='MultiView',
        num_views=2,
        transforms=[[dict(type='RandomFlip', prob=0.5)]]),
    dict(type='PackInputs'),
]
PLAIN = [dict(type='PackInputs')]
TWO_SAME_VIEWS = [  # deterministic two-view pipeline
    dict(
        type='MultiView',
        num_views=2,
        transforms=[[dict(type='RandomFlip', prob=0.0)]]),
    dict(type='PackInputs'),
]


def _model_cfg(**kwargs):
    cfg = dict(
        type='SBCL',
        num_classes=3,
        backbone=dict(type='ResNet32CIFAR', depth=20, base_channels=4),
        projector=dict(
            type='ProjectionMLP',
            in_channels=16,
            hid_channels=16,
            out_channels=8),
        data_preprocessor=dict(mean=[0., 0., 0.], std=[255., 255., 255.]))
    cfg.update(kwargs)
    return cfg


def _moco_cfg():
    return _model_cfg(
        type='MoCoSBCL',
        queue_len=12,
        feat_dim=8,
        momentum=0.5,
        warmup_loss=dict(type='KCLLoss', pos_k=2, temperature=0.1))


def _fake_runner(pipeline, epoch=0, optim_wrapper=None, model_cfg=None):
    """What the hook uses of a runner: model, train_dataloader, epoch,
    optim_wrapper (the distributed test cannot build a full Runner)."""
    init_default_scope('ltcls')
    torch.manual_seed(0)
    model = MODELS.build(model_cfg or _model_cfg())
    model.init_weights()
    loader = Runner.build_dataloader(
        dict(
            dataset=ToySBCLDataset(pipeline=pipeline),
            batch_size=4,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True)))
    return SimpleNamespace(
        model=model,
        train_dataloader=loader,
        epoch=epoch,
        optim_wrapper=optim_wrapper,
        cfg=None)


def test_schedule_and_args():
    hook = SubclassClusteringHook(
        start_epoch=10, interval=10, clustering=dict(delta=10))
    assert [e for e in range(45)
            if hook.is_cluster_epoch(e)] == [10, 20, 30, 40]
    hook = SubclassClusteringHook(
        start_epoch=200, interval=5, clustering=dict(delta=20))
    assert [e for e in range(190, 212)
            if hook.is_cluster_epoch(e)] == [200, 205, 210]
    with pytest.raises(ValueError, match='interval'):
        SubclassClusteringHook(
            start_epoch=1, interval=0, clustering=dict(delta=10))
    with pytest.raises(ValueError, match='fixed_tau2'):
        SubclassClusteringHook(
            1, 1, clustering=dict(delta=10, temperature_mode='fixed'))
    with pytest.raises(ValueError, match='clustering.algo'):
        SubclassClusteringHook(
            1, 1, clustering=dict(delta=10, algo='dbscan'))
    with pytest.raises(ValueError, match='feature_loader.feature_source'):
        SubclassClusteringHook(
            1, 1, clustering=dict(delta=10),
            feature_loader=dict(feature_source='target'))


def test_grouped_args_defaults():
    hook = SubclassClusteringHook(
        start_epoch=1,
        interval=2,
        clustering=dict(delta=5, algo='kmeans'),
        feature_loader=dict(batch_size=16))
    assert hook.clustering == dict(
        delta=5, n_min=None, algo='kmeans', init='kmeans++', max_iters=50,
        tol=1e-3, seed=0, temperature_mode='exp', alpha=10.0,
        clip_percentiles=None, tau1=None, fixed_tau2=None,
        tail_tau2='dynamic', num_threads=1)
    assert hook.feature_loader == dict(
        pipeline=None, batch_size=16, num_workers=None, feature_source=None)
    assert hook.reset_optimizer is False


@pytest.mark.parametrize('key,place', [
    ('delta', 'clustering=dict(delta=...)'),
    ('cluster_algo', 'clustering=dict(algo=...)'),
    ('n_min', 'clustering=dict(n_min=...)'),
    ('temperature_mode', 'clustering=dict(temperature_mode=...)'),
    ('num_threads', 'clustering=dict(num_threads=...)'),
    ('feature_source', 'feature_loader=dict(feature_source=...)'),
    ('feat_pipeline', 'feature_loader=dict(pipeline=...)'),
    ('feat_batch_size', 'feature_loader=dict(batch_size=...)'),
    ('feat_num_workers', 'feature_loader=dict(num_workers=...)'),
])
def test_old_flat_args_name_their_new_place(key, place):
    with pytest.raises(TypeError) as err:
        SubclassClusteringHook(
            start_epoch=1, interval=1, clustering=dict(delta=3),
            **{key: 1})
    assert str(err.value) == (
        f"SubclassClusteringHook: '{key}' moved to {place}")


def test_unknown_and_missing_keys_are_refused():
    with pytest.raises(TypeError, match=r"unknown key\(s\) \['cluster_algo'\] "
                       r'in clustering=dict'):
        SubclassClusteringHook(
            1, 1, clustering=dict(delta=3, cluster_algo='kmeans'))
    with pytest.raises(TypeError, match=r"unknown key\(s\) \['shuffle'\] "
                       r'in feature_loader=dict'):
        SubclassClusteringHook(
            1, 1, clustering=dict(delta=3), feature_loader=dict(shuffle=1))
    with pytest.raises(TypeError, match=r"needs \['delta'\]"):
        SubclassClusteringHook(1, 1, clustering=dict(algo='kmeans'))
    with pytest.raises(TypeError, match='clustering=dict'):
        SubclassClusteringHook(1, 1)
    with pytest.raises(TypeError, match='clustering must be a dict'):
        SubclassClusteringHook(1, 1, clustering=3)
    with pytest.raises(TypeError, match="unexpected argument 'priority2'"):
        SubclassClusteringHook(1, 1, clustering=dict(delta=3), priority2=1)


@pytest.mark.parametrize('algo', ['balanced_greedy', 'kmeans'])
def test_hook_equals_direct_clustering(algo):
    runner = _fake_runner(PLAIN)
    model = runner.model
    hook = SubclassClusteringHook(
        start_epoch=0,
        interval=1,
        clustering=dict(
            delta=3,
            algo=algo,
            seed=7,
            temperature_mode='linear',
            clip_percentiles=(20, 80),
            tail_tau2='tau1'))
    hook.before_run(runner)
    assert model.subclass_labels.numel() == sum(COUNTS)
    model.train()
    hook.before_train_epoch(runner)
    assert model.training  # train mode restored
    assert model.is_cluster_ready
    # the same clustering, by hand, on the model's embeddings in eval mode
    ds = runner.train_dataloader.dataset
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(
            runner.train_dataloader.collate_fn([ds[i]
                                                for i in range(len(ds))]),
            False)
        z = model.extract_cluster_feat(data['inputs'])
    labels = torch.tensor(
        [ds.get_data_info(i)['gt_label'] for i in range(len(ds))])
    res = cluster_subclasses(z, labels, 3, 3, algo=algo, seed=7)
    torch.testing.assert_close(model.subclass_labels, res.sub_labels)
    tau2 = class_temperature(
        z,
        labels,
        3,
        model.tau1,
        'linear',
        clip_percentiles=(20, 80),
        num_subclasses=res.num_subclasses,
        tail_tau2='tau1')
    torch.testing.assert_close(model.class_tau2, tau2)
    assert res.num_subclasses.tolist() == [3, 1, 1]
    # unsorted labels: ids follow each sample's own class
    lo = res.offsets[labels]
    assert ((model.subclass_labels >= lo) &
            (model.subclass_labels < lo + res.num_subclasses[labels])).all()


def test_moco_sbcl_clusters_momentum_features():
    """The ImageNet-LT path: clustering on the momentum encoder, then the
    queue loss runs and enqueues the new subclass ids."""
    runner = _fake_runner(TWO_SAME_VIEWS, model_cfg=_moco_cfg())
    model = runner.model
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.5))
    data = next(iter(runner.train_dataloader))
    model.train_step(data, optim)  # warm-up step: encoders now differ
    hook = SubclassClusteringHook(
        start_epoch=0,
        interval=1,
        clustering=dict(delta=3, temperature_mode='fixed', fixed_tau2=0.12))
    hook.before_run(runner)
    feats, labels, idx = hook.extract(runner, model)
    model.eval()
    with torch.no_grad():
        batch = model.data_preprocessor(
            runner.train_dataloader.collate_fn(
                [runner.train_dataloader.dataset[int(i)] for i in idx[:4]]),
            False)
        z_m = model.extract_cluster_feat(batch['inputs'], 'momentum')
        z_o = model.extract_cluster_feat(batch['inputs'], 'online')
    model.train()
    # the hook embedded with the momentum encoder (the model's default)
    assert not torch.allclose(z_m, z_o, atol=1e-4)
    torch.testing.assert_close(feats[:4], z_m, rtol=1e-4, atol=1e-5)
    hook.before_train_epoch(runner)
    assert model.is_cluster_ready
    torch.testing.assert_close(model.class_tau2, torch.full((3, ), 0.12))
    log = model.train_step(data, optim)
    assert 'loss_sbcl' in log and torch.isfinite(log['loss'])
    _, cls, sub = model.queue_state()
    filled = cls >= 0
    assert (sub[filled] >= -1).all() and (sub[filled] >= 0).any()


def test_optimizer_reset_only_at_start_epoch():
    runner = _fake_runner(TWO_VIEW)
    model = runner.model
    optim = OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    runner.optim_wrapper = optim
    hook = SubclassClusteringHook(
        start_epoch=2,
        interval=2,
        clustering=dict(delta=3),
        reset_optimizer=True)
    hook.before_run(runner)

    def step():
        data = next(iter(runner.train_dataloader))
        model.train_step(data, optim)

    step()
    assert len(optim.optimizer.state) > 0
    for epoch, expect_reset in ((1, False), (2, True)):
        runner.epoch = epoch
        step()
        hook.before_train_epoch(runner)
        assert (len(optim.optimizer.state) == 0) == expect_reset
    assert model.is_cluster_ready
    step()  # SBCL loss now
    runner.epoch = 4  # a later clustering keeps the optimizer state
    hook.before_train_epoch(runner)
    assert len(optim.optimizer.state) > 0


def _runner(work_dir, max_epochs, resume_from=None):
    cfg = Config(
        dict(
            default_scope='ltcls',
            model=_model_cfg(),
            work_dir=work_dir,
            train_dataloader=dict(
                batch_size=6,
                num_workers=0,
                dataset=dict(type='ToySBCLDataset', pipeline=TWO_VIEW),
                sampler=dict(type='DefaultSampler', shuffle=True)),
            train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
            optim_wrapper=dict(
                optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
            custom_hooks=[
                dict(type='NumClassesCheckHook'),
                # clusterings before epochs 1 and 3
                dict(
                    type='SubclassClusteringHook',
                    start_epoch=1,
                    interval=2,
                    clustering=dict(delta=3))
            ],
            default_hooks=dict(
                checkpoint=dict(type='CheckpointHook', interval=1),
                logger=dict(type='LoggerHook', interval=1)),
            randomness=dict(seed=0),
            resume=resume_from is not None,
            load_from=resume_from,
            log_level='WARNING'))
    return Runner.from_cfg(cfg)


def _ckpt_state(path):
    return torch.load(
        path, map_location='cpu', weights_only=True)['state_dict']


@pytest.mark.slow
def test_train_then_resume_keeps_subclass_ids(tmp_path):
    work = str(tmp_path / 'run')
    runner = _runner(work, max_epochs=4)
    runner.train()
    ep1 = _ckpt_state(osp.join(work, 'epoch_1.pth'))
    ep2 = _ckpt_state(osp.join(work, 'epoch_2.pth'))
    ep3 = _ckpt_state(osp.join(work, 'epoch_3.pth'))
    # warm-up epoch 0: no subclasses yet
    assert not bool(ep1['cluster_ready'])
    assert ep1['subclass_labels'].eq(-1).all()
    # clustered before epoch 1, unchanged through epoch 2
    assert bool(ep2['cluster_ready'])
    assert ep2['subclass_labels'].ge(0).all()
    assert torch.equal(ep2['subclass_labels'], ep3['subclass_labels'])
    assert runner.message_hub.get_scalar('train/loss_sbcl') is not None

    # resume from epoch 2 in another work dir: the ids come back from the
    # checkpoint, epoch 2 trains with them and no clustering happens
    work2 = str(tmp_path / 'resumed')
    runner2 = _runner(
        work2, max_epochs=3, resume_from=osp.join(work, 'epoch_2.pth'))
    runner2.train()
    model2 = runner2.model
    assert model2.is_cluster_ready
    assert torch.equal(model2.subclass_labels.cpu(), ep2['subclass_labels'])
    torch.testing.assert_close(model2.class_tau2.cpu(), ep2['class_tau2'])
    ep3b = _ckpt_state(osp.join(work2, 'epoch_3.pth'))
    assert torch.equal(ep3b['subclass_labels'], ep2['subclass_labels'])


# --- two ranks agree -----------------------------------------------------
def _cluster_on_ranks(rank, world_size):
    runner = _fake_runner(PLAIN)
    # a different seed on rank 1: if rank 1 clustered on its own it could
    # disagree; it must receive rank 0's result instead
    hook = SubclassClusteringHook(
        start_epoch=0,
        interval=1,
        clustering=dict(delta=3, init='random', seed=rank))
    hook.before_run(runner)
    feats, labels, idx = hook.extract(runner, runner.model)
    hook.before_train_epoch(runner)
    return dict(
        sub=runner.model.subclass_labels.clone(),
        tau2=runner.model.class_tau2.clone(),
        n_embedded=len(idx),
        distinct=len(torch.unique(idx)),
        ready=bool(runner.model.cluster_ready))


def test_two_ranks_hold_the_same_subclasses():
    res = run_distributed(_cluster_on_ranks, 2)
    assert res[0]['ready'] and res[1]['ready']
    assert torch.equal(res[0]['sub'], res[1]['sub'])
    assert torch.equal(res[0]['tau2'], res[1]['tau2'])
    # each rank embedded a shard; the gathered set is the whole train set
    assert res[0]['n_embedded'] == res[0]['distinct'] == sum(COUNTS)
    # and it is what one process computes with rank 0's seed
    single = _cluster_on_ranks(0, 1)
    assert torch.equal(single['sub'], res[0]['sub'])
    torch.testing.assert_close(single['tau2'], res[0]['tau2'])


def test_feature_loader_pipeline_batch_size_and_workers():
    """feature_loader=dict(pipeline=..., batch_size=..., num_workers=...)
    builds a separate, unshuffled dataset of the training set."""
    runner = _fake_runner(TWO_VIEW)
    runner.cfg = SimpleNamespace(train_dataloader=dict(
        dataset=dict(type='ToySBCLDataset', pipeline=TWO_VIEW)))
    hook = SubclassClusteringHook(
        start_epoch=0,
        interval=1,
        clustering=dict(delta=3),
        feature_loader=dict(pipeline=PLAIN, batch_size=7, num_workers=0))
    hook.before_run(runner)
    loader = hook._build_feat_loader(runner)
    assert loader.batch_size == 7 and loader.num_workers == 0
    assert loader.dataset is not runner.train_dataloader.dataset
    feats, labels, idx = hook.extract(runner, runner.model)
    assert idx.tolist() == list(range(sum(COUNTS)))
    # the deterministic pipeline: embedding twice gives the same features
    feats2, _, _ = hook.extract(runner, runner.model)
    torch.testing.assert_close(feats, feats2)
