"""ClassCountsHook with a real Runner on DigitsLT (train, val and test)."""
import copy
import json
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import ConcatDataset, RepeatDataset
from mmengine.runner import Runner

from ltcls.datasets import DigitsLT
from ltcls.engine.hooks import ClassCountsHook, dataset_class_counts


def tiny_cfg(work_dir, head, evaluator, custom_hooks, max_epochs=1):
    """ResNet-20 with 4 base channels on DigitsLT (IF 50), CPU-cheap."""
    return Config(
        dict(
            default_scope='ltcls',
            work_dir=str(work_dir),
            model=dict(
                type='ImageClassifier',
                data_preprocessor=dict(
                    num_classes=10,
                    mean=[48.5] * 3,
                    std=[82.0] * 3,
                    to_rgb=False),
                backbone=dict(type='ResNet32CIFAR', depth=20, base_channels=4),
                neck=dict(type='GlobalAveragePooling'),
                head=head),
            train_dataloader=dict(
                batch_size=64,
                num_workers=0,
                dataset=dict(
                    type='DigitsLT',
                    split='train',
                    imbalance_factor=50,
                    pipeline=[dict(type='PackInputs')]),
                sampler=dict(type='DefaultSampler', shuffle=True)),
            train_cfg=dict(
                by_epoch=True, max_epochs=max_epochs, val_interval=1),
            optim_wrapper=dict(
                optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
            val_dataloader=dict(
                batch_size=250,
                num_workers=0,
                dataset=dict(
                    type='DigitsLT',
                    split='test',
                    pipeline=[dict(type='PackInputs')]),
                sampler=dict(type='DefaultSampler', shuffle=False)),
            val_cfg=dict(),
            val_evaluator=evaluator,
            test_dataloader=dict(
                batch_size=250,
                num_workers=0,
                dataset=dict(
                    type='DigitsLT',
                    split='test',
                    pipeline=[dict(type='PackInputs')]),
                sampler=dict(type='DefaultSampler', shuffle=False)),
            test_cfg=dict(),
            test_evaluator=evaluator,
            custom_hooks=custom_hooks,
            default_hooks=dict(
                logger=dict(type='LoggerHook', interval=50),
                checkpoint=dict(type='CheckpointHook', interval=-1)),
            randomness=dict(seed=0),
            log_level='WARNING',
        ))


def digits_counts():
    return DigitsLT(split='train', imbalance_factor=50).class_counts


def test_dataset_class_counts_wrappers():
    ds = DigitsLT(split='train', imbalance_factor=50)
    counts = ds.class_counts
    # the exponential profile n_i = int(n_max * 50^(-i/9)), n_max = 124
    assert counts.tolist() == [124, 80, 51, 33, 21, 14, 9, 5, 3, 2]
    assert counts.tolist() == [int(124 * 50**(-i / 9)) for i in range(10)]
    np.testing.assert_array_equal(dataset_class_counts(ds), counts)
    np.testing.assert_array_equal(
        dataset_class_counts(RepeatDataset(ds, times=3)), counts)
    np.testing.assert_array_equal(
        dataset_class_counts(ConcatDataset([ds, ds])), 2 * counts)

    class NoCounts:  # mmpretrain-style dataset without LongTailMixin
        metainfo = dict(classes=('a', 'b', 'c'))

        def get_gt_labels(self):
            return np.array([0, 2, 2, 0, 0])

    np.testing.assert_array_equal(dataset_class_counts(NoCounts()), [3, 0, 2])
    with pytest.raises(TypeError, match='cannot count the classes'):
        dataset_class_counts(object())


@pytest.mark.slow
def test_test_only_run_counts_the_unbuilt_train_set(tmp_path):
    """tools/test.py path: the train loop is never built."""
    evaluator = [
        dict(type='LongTailAccuracy', topk=(1, 5), many_thr=60, few_thr=20),
        dict(type='Balancedness', sigma=0.2)
    ]
    cfg = tiny_cfg(
        tmp_path,
        dict(type='LogitAdjustedClsHead', num_classes=10, in_channels=16),
        evaluator, [dict(type='ClassCountsHook')])
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    assert isinstance(runner._train_loop, dict)  # not built
    counts = digits_counts()
    np.testing.assert_array_equal(runner.model.head.class_counts.numpy(),
                                  counts)
    assert {
        'accuracy/top1', 'accuracy/many', 'accuracy/medium', 'accuracy/few',
        'balancedness/beta'
    } <= set(metrics)
    with open(osp.join(runner.log_dir, 'per_class_accuracy_test.json')) as f:
        rows = json.load(f)['classes']
    assert [r['train_count'] for r in rows] == counts.tolist()
    assert [r['shot'] for r in rows] == [
        'many' if n > 60 else 'few' if n < 20 else 'medium' for n in counts
    ]


@pytest.mark.slow
def test_train_sets_loss_and_val_metric(tmp_path):
    cfg = tiny_cfg(
        tmp_path,
        dict(
            type='LinearClsHead',
            num_classes=10,
            in_channels=16,
            loss=dict(type='BalancedSoftmaxLoss')),
        dict(type='LongTailAccuracy', topk=1, many_thr=60),
        [dict(type='NumClassesCheckHook'),
         dict(type='ClassCountsHook')])
    runner = Runner.from_cfg(cfg)
    runner.train()
    np.testing.assert_array_equal(
        runner.model.head.loss_module.class_counts.numpy(), digits_counts())
    assert osp.isfile(osp.join(runner.log_dir, 'per_class_accuracy_val.csv'))


def test_explicit_counts_and_missing_train_set(tmp_path):
    cfg = tiny_cfg(
        tmp_path,
        dict(type='LogitAdjustedClsHead', num_classes=10, in_channels=16),
        dict(type='LongTailAccuracy', topk=1),
        [dict(type='ClassCountsHook', class_counts=list(range(1, 11)))])
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper'):
        cfg.pop(key)
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    runner.test()
    assert runner.model.head.class_counts.tolist() == list(range(1, 11))
    cfg.custom_hooks = [dict(type='ClassCountsHook')]
    runner = Runner.from_cfg(cfg)
    with pytest.raises(RuntimeError, match='has no train_dataloader'):
        runner.test()


def test_bad_counts_argument():
    with pytest.raises(ValueError, match='non-empty 1-D'):
        ClassCountsHook(class_counts=[[1, 2]])
