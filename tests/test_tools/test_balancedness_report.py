"""tools/analysis_tools/balancedness_report.py: closed-form pieces and a
CPU run on DigitsLT with the quickstart checkpoint."""
import glob
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
import balancedness_report  # noqa: E402


def test_ncm_predict():
    train_x = torch.tensor([[1., 0.], [2., 0.1], [0., 1.], [0.1, 3.]])
    train_y = torch.tensor([0, 0, 1, 1])
    eval_x = torch.tensor([[5., 1.], [1., 5.], [1., 0.9]])
    pred = balancedness_report.ncm_predict(train_x, train_y, eval_x, 3)
    assert pred.tolist() == [0, 1, 0]  # class 2 has no train sample


def test_linear_probe_separable():
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[3., 0.], [0., 3.], [-3., -3.]])
    y = torch.tensor([0] * 40 + [1] * 10 + [2] * 3)
    x = centers[y] + 0.3 * torch.randn(len(y), 2, generator=g)
    pred = balancedness_report.linear_probe_predict(x, y, x, 3, epochs=200)
    assert (pred == y).float().mean() == 1.0


def test_balancedness_table_closed_form():
    from ltcls.evaluation.metrics import balancedness
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    pred = torch.tensor([0, 0, 1, 0, 0, 0])  # acc 1, 0.5, 0
    table = balancedness_report.balancedness_table(pred, labels, [150, 50, 5],
                                                   [0.5, 1.0], ['a', 'b', 'c'])
    for sigma in (0.5, 1.0):
        # mean over the 9 ordered pairs of exp(-|a_i - a_j| / sigma)
        a = np.array([1.0, 0.5, 0.0])
        ref = np.exp(-np.abs(a[:, None] - a[None]) / sigma).mean()
        assert table['beta'][sigma] == pytest.approx(ref)
        assert table['beta'][sigma] == balancedness(a, sigma)
    assert [r['acc'] for r in table['per_class']] == [100.0, 50.0, 0.0]
    assert [r['shot'] for r in table['per_class']] == ['many', 'medium', 'few']
    assert table['per_class'][2]['class_name'] == 'c'
    assert table['class_mean'] == pytest.approx(50.0)
    assert table['top1'] == pytest.approx(50.0)
    # classes without evaluation samples are left out of beta
    table = balancedness_report.balancedness_table(pred[:4], labels[:4],
                                                   [150, 50, 5], [1.0])
    assert table['per_class'][2]['acc'] is None
    assert table['beta'][1.0] == pytest.approx(balancedness([1.0, 0.5], 1))


def test_report_on_digits(quickstart_run, tmp_path, capsys):
    cfg, ckpt = quickstart_run['config'], quickstart_run['checkpoint']
    out, png = str(tmp_path / 'bal.json'), str(tmp_path / 'bal.png')
    report = balancedness_report.main([
        cfg, ckpt, '--sigma', '0.1', '0.5', '--out', out, '--png', png,
        '--cfg-options', 'test_dataloader.dataset.indices=100'
    ])
    printed = capsys.readouterr().out
    saved = json.load(open(out))
    assert saved['classifier'] == 'ncm' and saved['stage'] == 'neck'
    assert saved['feature_dim'] == 64 and saved['num_eval'] == 100
    assert saved['shot_args'] == dict(many_thr=60, few_thr=20)
    rows = saved['per_class']
    assert len(rows) == 10 and [r['class_name']
                                for r in rows] == [str(i) for i in range(10)]
    acc = np.array([r['acc'] for r in rows]) / 100
    from ltcls.evaluation.metrics import balancedness
    for sigma in ('0.1', '0.5'):
        assert 0 < saved['beta'][sigma] <= 1
        assert saved['beta'][sigma] == pytest.approx(
            balancedness(acc, float(sigma)))
    assert report['beta'] == saved['beta']
    assert 'sigma' in printed and 'beta' in printed and out in printed
    with open(png, 'rb') as f:
        assert f.read(4) == b'\x89PNG'


def test_head_classifier_matches_long_tail_accuracy(quickstart_run, tmp_path):
    """--classifier head on the test split = the per-class accuracies that
    LongTailAccuracy wrote when the run validated (the same 100 images)."""
    cfg, ckpt = quickstart_run['config'], quickstart_run['checkpoint']
    report = balancedness_report.main([
        cfg, ckpt, '--sigma', '1', '--classifier', 'head', '--out',
        str(tmp_path / 'head.json'), '--cfg-options',
        'test_dataloader.dataset.indices=100'
    ])
    per_class = glob.glob(
        osp.join(quickstart_run['log_dir'], 'per_class_accuracy_val.json'))
    assert per_class, 'the run wrote no per-class file'
    ref = json.load(open(per_class[0]))
    assert [r['acc'] for r in report['per_class']
            ] == pytest.approx([r['top1_acc'] for r in ref['classes']])
    assert report['top1'] == pytest.approx(ref['metrics']['top1'])


def test_errors(tmp_path, quickstart_run):
    cfg = quickstart_run['config']
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        balancedness_report.main(
            [cfg, str(tmp_path / 'x.pth'), '--sigma', '1'])
    with pytest.raises(FileNotFoundError, match='config file not found'):
        balancedness_report.main([
            str(tmp_path / 'c.py'), quickstart_run['checkpoint'], '--sigma',
            '1'
        ])
    with pytest.raises(ValueError, match='--sigma must be > 0'):
        balancedness_report.main(
            [cfg, quickstart_run['checkpoint'], '--sigma', '0'])
    with pytest.raises(SystemExit):  # --sigma is required
        balancedness_report.parse_args([cfg, 'ckpt.pth'])
    with pytest.raises(SystemExit) as e:
        balancedness_report.parse_args(['--help'])
    assert e.value.code == 0
