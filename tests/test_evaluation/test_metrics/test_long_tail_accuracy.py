"""LongTailAccuracy: exact values on a hand-made case, files, ranks."""
import csv
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.structures import DataSample

from ltcls.evaluation.metrics import (LongTailAccuracy, long_tail_accuracy,
                                      shot_groups)
from ltcls.registry import METRICS
from ltcls.testing import run_distributed

CLASSES = ('a', 'b', 'c', 'd')
COUNTS = [150, 60, 20, 3]  # many / medium / medium / few with >100, <20
# (label, ranking of the classes by decreasing score)
CASE = [
    (0, [0, 1, 2, 3]),
    (0, [0, 2, 1, 3]),
    (0, [0, 3, 1, 2]),
    (0, [1, 0, 2, 3]),
    (1, [1, 0, 2, 3]),
    (1, [2, 3, 1, 0]),
    (2, [0, 2, 1, 3]),
    (2, [3, 1, 2, 0]),
    (3, [3, 0, 1, 2]),
]
# per-class top-1: 3/4, 1/2, 0/2, 1/1; top-2 hits: 4, 1, 1, 1 of 9
EXPECTED = {
    'top1': 100 * 5 / 9,
    'top2': 100 * 7 / 9,
    'many': 75.0,
    'medium': (50.0 + 0.0) / 2,
    'few': 100.0,
    'class_mean': (75 + 50 + 0 + 100) / 4,
}


def _score(ranking):
    score = torch.zeros(len(ranking))
    for r, c in enumerate(ranking):
        score[c] = 1.0 - 0.1 * r
    return torch.softmax(score, 0)


def _samples(idx=None):
    idx = range(len(CASE)) if idx is None else idx
    return [
        DataSample().set_gt_label(CASE[i][0]).set_pred_score(
            _score(CASE[i][1])).to_dict() for i in idx
    ]


def test_shot_groups_thresholds():
    counts = [150, 101, 100, 50, 20, 19, 1]
    assert list(shot_groups(counts)) == [
        'many', 'many', 'medium', 'medium', 'medium', 'few', 'few'
    ]
    assert list(shot_groups(counts, few_inclusive=True))[4] == 'few'
    assert list(shot_groups(counts, many_thr=60, few_thr=20)) == [
        'many', 'many', 'many', 'medium', 'medium', 'few', 'few'
    ]
    with pytest.raises(ValueError, match='few_thr=50 must be <= many_thr'):
        shot_groups(counts, many_thr=10, few_thr=50)


def test_functional_exact():
    pred = torch.stack([torch.tensor(r) for _, r in CASE])
    gt = torch.tensor([y for y, _ in CASE])
    metrics, per_class = long_tail_accuracy(pred, gt, COUNTS, topk=(1, 2))
    assert metrics.keys() == EXPECTED.keys()
    for k, v in EXPECTED.items():
        assert math.isclose(metrics[k], v, abs_tol=1e-9), (k, metrics[k])
    np.testing.assert_allclose(per_class['top1'], [75, 50, 0, 100])
    np.testing.assert_allclose(per_class['top2'], [100, 50, 50, 100])
    assert per_class['test_count'].tolist() == [4, 2, 2, 1]


def test_evaluator_and_files(tmp_path):
    metric = METRICS.build(
        dict(type='LongTailAccuracy', topk=(1, 2), class_counts=COUNTS))
    metric.set_out_dir(str(tmp_path), 'val')
    evaluator = Evaluator(metric)
    evaluator.dataset_meta = dict(classes=CLASSES)
    evaluator.process(_samples())
    out = evaluator.evaluate(len(CASE))
    assert set(out) == {f'accuracy/{k}' for k in EXPECTED}
    for k, v in EXPECTED.items():
        assert math.isclose(out[f'accuracy/{k}'], v, abs_tol=1e-5)
    with open(tmp_path / 'per_class_accuracy_val.json') as f:
        dumped = json.load(f)
    assert dumped['thresholds'] == dict(
        many_thr=100, few_thr=20, few_inclusive=False)
    rows = dumped['classes']
    assert [r['class_name'] for r in rows] == list(CLASSES)
    assert [r['train_count'] for r in rows] == COUNTS
    assert [r['shot'] for r in rows] == ['many', 'medium', 'medium', 'few']
    assert [r['top1_acc'] for r in rows] == [75.0, 50.0, 0.0, 100.0]
    with open(tmp_path / 'per_class_accuracy_val.csv') as f:
        csv_rows = list(csv.DictReader(f))
    assert [float(r['top2_acc']) for r in csv_rows] == [100, 50, 50, 100]


def test_missing_group_and_missing_test_class_are_nan():
    metric = LongTailAccuracy(topk=1, class_counts=[500, 400, 300, 200])
    metric.dataset_meta = dict(classes=CLASSES)
    metric.results = [
        dict(pred=torch.tensor([0]), gt=torch.tensor([0])),
        dict(pred=torch.tensor([0]), gt=torch.tensor([1])),
    ]
    out = metric.compute_metrics(metric.results)
    assert out['many'] == 50.0 and out['class_mean'] == 50.0
    assert math.isnan(out['medium']) and math.isnan(out['few'])


def test_errors():
    metric = LongTailAccuracy(topk=(1, 2))
    metric.process(None, _samples([0]))
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        metric.compute_metrics(metric.results)
    metric.set_class_counts([1, 2, 3])
    metric.dataset_meta = dict(classes=CLASSES)
    with pytest.raises(ValueError, match='4 classes but the train class'):
        metric.compute_metrics(metric.results)
    with pytest.raises(ValueError, match='needs at least 5 classes'):
        LongTailAccuracy(topk=(1, 5)).process(None, _samples([0]))
    with pytest.raises(ValueError, match='topk must be positive ints'):
        LongTailAccuracy(topk=(0, ))


def _dist_eval(rank, world_size, out_root):
    metric = LongTailAccuracy(topk=(1, 2), class_counts=COUNTS)
    metric.set_out_dir(osp.join(out_root, f'rank{rank}'), 'test')
    evaluator = Evaluator(metric)
    evaluator.dataset_meta = dict(classes=CLASSES)
    # DefaultSampler's split: rank r gets samples r, r + W, ...
    evaluator.process(_samples(range(rank, len(CASE), world_size)))
    return evaluator.evaluate(len(CASE))


@pytest.mark.slow
def test_two_ranks_equal_one_rank(tmp_path):
    results = run_distributed(_dist_eval, 2, str(tmp_path))
    for out in results:
        for k, v in EXPECTED.items():
            assert math.isclose(out[f'accuracy/{k}'], v, abs_tol=1e-5), k
    # only rank 0 computes and writes the per-class files
    assert (tmp_path / 'rank0' / 'per_class_accuracy_test.json').exists()
    assert not (tmp_path / 'rank1').exists()


def test_shot_args_from_config():
    from mmengine.config import Config

    from ltcls.evaluation.metrics import shot_args_from_config
    cfg = Config(
        dict(
            val_evaluator=dict(
                type='LongTailAccuracy', many_thr=60, few_thr=20),
            test_evaluator=[
                dict(type='Accuracy'),
                dict(type='LongTailAccuracy', many_thr=50, few_thr=10,
                     few_inclusive=True)
            ]))
    assert shot_args_from_config(cfg) == dict(
        many_thr=50, few_thr=10, few_inclusive=True)
    assert shot_args_from_config(cfg, ('val', )) == dict(
        many_thr=60, few_thr=20)
    assert shot_args_from_config(Config(dict(val_evaluator=dict(
        type='Accuracy')))) == {}
