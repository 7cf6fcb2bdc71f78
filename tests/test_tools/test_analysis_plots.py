"""tools/analysis_tools/{plot_per_class_acc,compare_work_dirs,plot_curves}.py
on files written by LongTailAccuracy / mmengine's LoggerHook."""
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
import compare_work_dirs  # noqa: E402
import plot_curves  # noqa: E402
import plot_per_class_acc  # noqa: E402

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
COUNTS = [150, 120, 80, 40, 25, 15, 8, 5]  # 2 many, 3 medium, 3 few


def _is_png(path):
    with open(path, 'rb') as f:
        return f.read(8) == PNG_MAGIC and osp.getsize(path) > 1000


def _write_per_class(out_dir,
                     correct_per_class,
                     tag='test',
                     n_test=10,
                     **metric_kwargs):
    """Let LongTailAccuracy itself write the per-class files."""
    from ltcls.evaluation.metrics import LongTailAccuracy
    metric = LongTailAccuracy(
        topk=(1, ), class_counts=COUNTS, out_dir=str(out_dir), **metric_kwargs)
    metric.set_out_dir(str(out_dir), tag)
    metric.dataset_meta = dict(classes=[f'c{j}' for j in range(len(COUNTS))])
    samples = []
    for j, correct in enumerate(correct_per_class):
        for i in range(n_test):
            pred = j if i < correct else (j + 1) % len(COUNTS)
            score = torch.zeros(len(COUNTS))
            score[pred] = 1.0
            samples.append(dict(pred_score=score, gt_label=torch.tensor([j])))
    metric.process(None, samples)
    metrics = metric.evaluate(len(samples))
    return metrics, osp.join(str(out_dir), f'per_class_accuracy_{tag}.json')


def test_plot_per_class_from_metric_files(tmp_path, capsys):
    correct = [10, 9, 8, 7, 6, 3, 2, 0]
    metrics, json_file = _write_per_class(tmp_path / 'run' / '20240101_000000',
                                          correct)
    assert osp.isfile(json_file)
    out = str(tmp_path / 'acc.png')
    means = plot_per_class_acc.main([json_file, '--out', out])
    assert _is_png(out)
    # default thresholds 100 / 20 equal the metric's defaults
    for shot in ('many', 'medium', 'few'):
        assert means[shot] == pytest.approx(metrics[f'accuracy/{shot}'])
    assert means['overall'] == pytest.approx(metrics['accuracy/top1'])
    assert means['many'] == pytest.approx(95.0)
    assert means['few'] == pytest.approx((30 + 20 + 0) / 3)
    printed = capsys.readouterr().out
    assert 'many 95.00' in printed and f'saved {out}' in printed

    # the CSV gives the same numbers; a work dir is searched
    csv_means = plot_per_class_acc.main(
        [json_file[:-5] + '.csv', '--out',
         str(tmp_path / 'csv.png')])
    assert csv_means == pytest.approx(means, nan_ok=True)
    dir_means = plot_per_class_acc.main(
        [str(tmp_path / 'run'), '--out',
         str(tmp_path / 'dir.png')])
    assert dir_means == pytest.approx(means)
    # default output: next to the file
    plot_per_class_acc.main([json_file])
    assert _is_png(json_file[:-5] + '.png')


def test_plot_per_class_thresholds_and_counts(tmp_path, capsys):
    _, json_file = _write_per_class(
        tmp_path, [10] * 4 + [0] * 4, many_thr=60, few_thr=20)
    means = plot_per_class_acc.main([
        json_file, '--many-thr', '60', '--few-thr', '20', '--out',
        str(tmp_path / 'a.png')
    ])
    assert means['many'] == 100.0  # 150, 120, 80
    assert means['few'] == 0.0  # 15, 8, 5
    assert 'note:' not in capsys.readouterr().out
    plot_per_class_acc.main([json_file, '--out', str(tmp_path / 'b.png')])
    assert 'evaluated with many_thr=60' in capsys.readouterr().out
    # --counts overrides the file's train counts (reversed: few <-> many)
    counts = tmp_path / 'counts.json'
    counts.write_text(json.dumps(COUNTS[::-1]))
    means = plot_per_class_acc.main(
        [json_file, '--counts',
         str(counts), '--out',
         str(tmp_path / 'c.png')])
    assert means['many'] == 0.0 and means['few'] == 100.0
    bad = tmp_path / 'bad.txt'
    bad.write_text('1 2 3')
    with pytest.raises(ValueError, match='has 3 counts'):
        plot_per_class_acc.main([json_file, '--counts', str(bad)])


def test_plot_per_class_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='no such per-class file'):
        plot_per_class_acc.main([str(tmp_path / 'nope.json')])
    (tmp_path / 'empty_work').mkdir()
    with pytest.raises(FileNotFoundError, match='no per-class accuracy file'):
        plot_per_class_acc.main([str(tmp_path / 'empty_work')])
    other = tmp_path / 'other.json'
    other.write_text('{"a": 1}')
    with pytest.raises(ValueError, match='not a per-class file'):
        plot_per_class_acc.main([str(other)])
    with pytest.raises(SystemExit) as e:
        plot_per_class_acc.parse_args(['--help'])
    assert e.value.code == 0


def test_compare_work_dirs(tmp_path, capsys):
    m_a, _ = _write_per_class(tmp_path / 'ce' / 't1',
                              [10, 9, 8, 7, 6, 3, 2, 0])
    m_b, file_b = _write_per_class(tmp_path / 'paco' / 't1',
                                   [9, 9, 8, 8, 7, 6, 5, 4])
    out = str(tmp_path / 'cmp.png')
    out_json = str(tmp_path / 'cmp.json')
    results = compare_work_dirs.main([
        str(tmp_path / 'ce'), file_b, '--labels', 'CE', 'PaCo', '--out', out,
        '--json', out_json
    ])
    assert _is_png(out)
    for means, m in zip(results, (m_a, m_b)):
        assert means['overall'] == pytest.approx(m['accuracy/top1'])
        for shot in ('many', 'medium', 'few'):
            assert means[shot] == pytest.approx(m[f'accuracy/{shot}'])
    table = json.load(open(out_json))
    assert [r['label'] for r in table] == ['CE', 'PaCo']
    printed = capsys.readouterr().out
    assert 'overall' in printed and 'PaCo' in printed
    with pytest.raises(ValueError, match='one label per input'):
        compare_work_dirs.main([file_b, file_b, '--labels', 'x'])
    with pytest.raises(FileNotFoundError):
        compare_work_dirs.main([str(tmp_path / 'missing_dir')])
    with pytest.raises(SystemExit) as e:
        compare_work_dirs.parse_args(['--help'])
    assert e.value.code == 0


def test_compare_real_work_dir(quickstart_run, tmp_path):
    """The per-class file the quickstart run wrote during validation."""
    out = str(tmp_path / 'real.png')
    results = compare_work_dirs.main([
        quickstart_run['work_dir'], quickstart_run['work_dir'], '--labels',
        'a', 'b', '--tag', 'val', '--many-thr', '60', '--out', out
    ])
    assert _is_png(out)
    assert results[0] == pytest.approx(results[1], nan_ok=True)
    assert 0 <= results[0]['overall'] <= 100


def _fake_log(path, epochs=3, iters=4, interval=2):
    lines = []
    step = 0
    for e in range(1, epochs + 1):
        for i in range(1, iters + 1):
            step += 1
            if i % interval == 0:
                lines.append(
                    dict(
                        lr=0.1 / e,
                        loss=2.0 / step,
                        epoch=e,
                        iter=step,
                        step=step,
                        time=0.1))
        lines.append({'accuracy/top1': 10.0 * e, 'step': e})
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        for line in lines:
            f.write(json.dumps(line) + '\n')
    return path


def test_plot_curves_epochs_and_iters(tmp_path, capsys):
    log = _fake_log(str(tmp_path / 'w' / 't' / 'vis_data' / 't.json'))
    logs = plot_curves.load_json_log(log)
    assert len(logs['train']) == 6 and len(logs['val']) == 3
    xs, ys, phase = plot_curves.curve(logs, 'accuracy/top1', 'iter')
    assert phase == 'val' and list(xs) == [4, 8, 12]
    xs, _, _ = plot_curves.curve(logs, 'accuracy/top1', 'epoch')
    assert list(xs) == [1, 2, 3]
    xs, ys, phase = plot_curves.curve(logs, 'loss', 'epoch')
    assert phase == 'train' and list(xs) == [0.5, 1, 1.5, 2, 2.5, 3]
    assert ys[0] == pytest.approx(1.0)
    out = str(tmp_path / 'curves.png')
    files = plot_curves.main([
        str(tmp_path / 'w'), '--keys', 'loss', 'lr', 'accuracy/top1', '--x',
        'epoch', '--out', out
    ])
    assert files == [log] and _is_png(out)
    with pytest.raises(KeyError, match="available keys: .*'loss'"):
        plot_curves.main([log, '--keys', 'nope', '--out', out])
    with pytest.raises(FileNotFoundError, match='no such log file'):
        plot_curves.main([str(tmp_path / 'nope.json')])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no mmengine JSON log'):
        plot_curves.main([str(tmp_path / 'empty')])
    with pytest.raises(ValueError, match='--legend'):
        plot_curves.main([log, '--legend', 'a', 'b'])
    with pytest.raises(SystemExit) as e:
        plot_curves.parse_args(['--help'])
    assert e.value.code == 0


def test_plot_curves_real_log(quickstart_run, tmp_path, capsys):
    out = str(tmp_path / 'real_curves.png')
    files = plot_curves.main([
        quickstart_run['work_dir'], '--keys', 'loss', 'lr', 'accuracy/top1',
        '--out', out
    ])
    assert _is_png(out)
    assert files[0].startswith(quickstart_run['log_dir'])
    logs = plot_curves.load_json_log(files[0])
    assert logs['train'] and logs['val']
    assert 'accuracy/top1' in logs['val'][-1]
    assert np.isfinite(plot_curves.curve(logs, 'loss')[1]).all()
