# Copyright (c) ltcls contributors. All rights reserved.
"""Plot per-class accuracy sorted by training-class frequency.

Reads the per-class file ``LongTailAccuracy`` writes into the run's log dir
(``<work_dir>/<timestamp>/per_class_accuracy_<test|val>.json`` or ``.csv``:
one row per class with ``class_index``, ``class_name``, ``train_count``,
``shot``, ``test_count``, ``top1_acc`` ...), or finds the newest such file
in a work dir. Classes are sorted by their number of training images
(most frequent first); the many- (``n > many_thr``), medium- and few-shot
(``n < few_thr``) bands are shaded and their mean accuracies shown.

Example:
    python tools/analysis_tools/plot_per_class_acc.py \\
        work_dirs/resnet32_ce_digits-lt --many-thr 60 --few-thr 20 \\
        --out per_class_acc.png
"""
import argparse
import csv
import glob
import json
import os
import os.path as osp
import sys
from typing import Dict, Optional, Sequence

import numpy as np

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

SHOTS = ('many', 'medium', 'few')
SHOT_COLORS = dict(many='tab:green', medium='tab:orange', few='tab:red')
PER_CLASS_PATTERN = 'per_class_*_{tag}.{ext}'


def find_per_class_file(path: str, tag: Optional[str] = None) -> str:
    """Return ``path`` if it is a file, else the newest per-class file
    (``per_class_*_<tag>.json``, then ``.csv``) under the work dir
    ``path`` (any depth).

    Args:
        path (str): A per-class ``.json`` / ``.csv`` file or a work dir.
        tag (str, optional): ``'test'`` or ``'val'``; None tries ``test``
            then ``val``.

    Raises:
        FileNotFoundError: nothing found.
    """
    if osp.isfile(path):
        return path
    if not osp.isdir(path):
        raise FileNotFoundError(f'no such per-class file or work dir: {path}')
    for t in ((tag, ) if tag else ('test', 'val')):
        for ext in ('json', 'csv'):
            pattern = osp.join(path, '**',
                               PER_CLASS_PATTERN.format(tag=t, ext=ext))
            found = glob.glob(pattern, recursive=True)
            if found:
                return max(found, key=lambda f: (osp.getmtime(f), f))
    raise FileNotFoundError(
        f'no per-class accuracy file (per_class_*_{tag or "test|val"}'
        f'.json/.csv) under {path}; it is written by LongTailAccuracy when '
        "ClassCountsHook is in custom_hooks (run tools/test.py first)")


def _num(value) -> float:
    if value is None or value == '':
        return float('nan')
    return float(value)


def load_per_class(filename: str, metric: str = 'top1') -> Dict:
    """Read a per-class file written by ``LongTailAccuracy``.

    Args:
        filename (str): ``.json`` or ``.csv``.
        metric (str): Accuracy column without ``_acc`` (``top1``, ``top5``).

    Returns:
        dict: ``acc`` (C, ) float in percent (NaN: no test sample),
        ``train_count`` (C, ) int, ``test_count`` (C, ) int,
        ``class_name`` list, ``thresholds`` (dict or None), ``metrics``
        (dict or None) and ``file``.
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'per-class file not found: {filename}')
    thresholds = metrics = None
    if filename.endswith('.json'):
        with open(filename) as f:
            data = json.load(f)
        if not isinstance(data, dict) or 'classes' not in data:
            raise ValueError(f'{filename} is not a per-class file of '
                             "LongTailAccuracy (no 'classes' list)")
        rows = data['classes']
        thresholds = data.get('thresholds')
        metrics = data.get('metrics')
    elif filename.endswith('.csv'):
        with open(filename, newline='') as f:
            rows = list(csv.DictReader(f))
    else:
        raise ValueError(f'{filename}: expected a .json or .csv per-class '
                         'file')
    if not rows:
        raise ValueError(f'{filename} lists no classes')
    column = f'{metric}_acc'
    if column not in rows[0]:
        raise KeyError(f'{filename} has no {column!r} column; available: '
                       f'{sorted(k for k in rows[0] if k.endswith("_acc"))}')
    for key in ('train_count', 'test_count'):
        if key not in rows[0]:
            raise KeyError(f'{filename} has no {key!r} column')
    rows = sorted(rows, key=lambda r: int(r.get('class_index', 0)))
    return dict(
        acc=np.array([_num(r[column]) for r in rows], dtype=np.float64),
        train_count=np.array([int(r['train_count']) for r in rows],
                             dtype=np.int64),
        test_count=np.array([int(r['test_count']) for r in rows],
                            dtype=np.int64),
        class_name=[
            str(r.get('class_name', r.get('class_index', i)))
            for i, r in enumerate(rows)
        ],
        thresholds=thresholds,
        metrics=metrics,
        file=filename)


def load_counts(filename: str) -> np.ndarray:
    """Train images per class from a JSON list (or a dict with
    ``class_counts``) or a text file of numbers (one per line / comma or
    space separated)."""
    if not osp.isfile(filename):
        raise FileNotFoundError(f'class counts file not found: {filename}')
    with open(filename) as f:
        text = f.read()
    if filename.endswith('.json'):
        data = json.loads(text)
        if isinstance(data, dict):
            data = data.get('class_counts', data.get('counts'))
        values = data
    else:
        values = text.replace(',', ' ').split()
    try:
        counts = np.array([int(float(v)) for v in values], dtype=np.int64)
    except (TypeError, ValueError):
        raise ValueError(f'{filename}: expected a list of per-class image '
                         'counts') from None
    if counts.ndim != 1 or counts.size == 0 or (counts < 0).any():
        raise ValueError(f'{filename}: expected non-negative counts')
    return counts


def shot_of(counts: Sequence[int], many_thr: float,
            few_thr: float) -> np.ndarray:
    """Shot group per class (the rule of ``LongTailAccuracy``)."""
    from ltcls.evaluation.metrics.long_tail_accuracy import shot_groups
    return shot_groups(counts, many_thr, few_thr)


def group_accuracy(acc: np.ndarray, test_count: np.ndarray,
                   shots: np.ndarray) -> Dict[str, float]:
    """Overall (sample) accuracy, per-shot means of the per-class
    accuracies and the class mean (classes without test samples left
    out), in percent."""
    evaluated = (test_count > 0) & np.isfinite(acc)
    out = {}
    n = test_count[evaluated].sum()
    out['overall'] = float(
        (acc[evaluated] * test_count[evaluated]).sum() / n) if n else np.nan
    for shot in SHOTS:
        sel = evaluated & (shots == shot)
        out[shot] = float(acc[sel].mean()) if sel.any() else float('nan')
    out['class_mean'] = float(
        acc[evaluated].mean()) if evaluated.any() else np.nan
    return out


def frequency_order(counts: np.ndarray) -> np.ndarray:
    """Class indices by decreasing train count (stable: ties by index)."""
    return np.argsort(-np.asarray(counts), kind='stable')


def shade_bands(ax, shots_sorted: np.ndarray, means: Dict[str, float] = None):
    """Shade the contiguous many / medium / few ranges of classes sorted by
    frequency (x positions 0..C-1)."""
    for shot in SHOTS:
        idx = np.flatnonzero(shots_sorted == shot)
        if idx.size == 0:
            continue
        label = f'{shot}-shot ({idx.size} classes'
        if means is not None and np.isfinite(means.get(shot, np.nan)):
            label += f', mean {means[shot]:.1f}%'
        label += ')'
        ax.axvspan(
            idx.min() - 0.5,
            idx.max() + 0.5,
            color=SHOT_COLORS[shot],
            alpha=0.12,
            lw=0,
            label=label)


def warn_thresholds(data: Dict, many_thr: float, few_thr: float) -> None:
    thr = data.get('thresholds') or {}
    if not thr:
        return
    if thr.get('many_thr') != many_thr or thr.get('few_thr') != few_thr:
        print(f'note: {data["file"]} was evaluated with many_thr='
              f'{thr.get("many_thr")}, few_thr={thr.get("few_thr")}; the '
              f'plot uses {many_thr}/{few_thr} (pass --many-thr / --few-thr '
              'to match)')


def plot_per_class(data: Dict,
                   out: str,
                   many_thr: float = 100,
                   few_thr: float = 20,
                   metric: str = 'top1',
                   title: Optional[str] = None,
                   max_ticks: int = 60) -> Dict[str, float]:
    """Bar plot of per-class accuracy by frequency, with shaded shot bands
    and the train counts (log scale) on a second axis. Returns the group
    accuracies."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    counts = data['train_count']
    acc = data['acc']
    shots = shot_of(counts, many_thr, few_thr)
    means = group_accuracy(acc, data['test_count'], shots)
    order = frequency_order(counts)
    num = len(order)
    xs = np.arange(num)

    fig, ax = plt.subplots(figsize=(max(6.0, min(0.25 * num, 20.0)), 4.5))
    shade_bands(ax, shots[order], means)
    ax.bar(
        xs,
        np.nan_to_num(acc[order]),
        width=0.8 if num <= 200 else 1.0,
        color=[SHOT_COLORS[s] for s in shots[order]],
        alpha=0.85)
    ax.axhline(
        means['class_mean'],
        color='k',
        ls='--',
        lw=1,
        label=f'class mean {means["class_mean"]:.1f}%')
    ax.set_xlim(-0.5, num - 0.5)
    ax.set_ylim(0, 100)
    ax.set_ylabel(f'{metric} accuracy (%)')
    ax.set_xlabel('classes, sorted by training images (most first)')
    if num <= max_ticks:
        ax.set_xticks(xs)
        ax.set_xticklabels([data['class_name'][i] for i in order],
                           rotation=90 if num > 20 else 0,
                           fontsize=7 if num > 20 else 9)
    ax2 = ax.twinx()
    ax2.plot(xs, counts[order], color='tab:blue', lw=1.5)
    ax2.set_ylabel('training images', color='tab:blue')
    if counts.max() > 0 and counts.min() > 0:
        from matplotlib.ticker import ScalarFormatter
        ax2.set_yscale('log')
        # plain numbers (20, 30, 100) instead of 2 x 10^1
        ax2.yaxis.set_major_formatter(ScalarFormatter())
        ax2.yaxis.set_minor_formatter(ScalarFormatter())
    ax.legend(loc='lower left', fontsize=8)
    ax.set_title(title or osp.basename(data['file']), fontsize=10)
    fig.tight_layout()
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return means


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plot per-class accuracy sorted by training-class '
        'frequency, with many / medium / few-shot bands')
    parser.add_argument(
        'per_class',
        help='per-class file written by LongTailAccuracy '
        '(per_class_accuracy_test.json / .csv) or a work dir to search')
    parser.add_argument(
        '--tag',
        choices=['test', 'val'],
        help='which per-class file to take from a work dir (default: test, '
        'else val)')
    parser.add_argument(
        '--counts',
        help='train images per class (JSON list or text file); defaults to '
        "the file's train_count column")
    parser.add_argument(
        '--many-thr',
        type=float,
        default=100,
        help='many-shot: more than this many training images (default 100)')
    parser.add_argument(
        '--few-thr',
        type=float,
        default=20,
        help='few-shot: fewer than this many training images (default 20)')
    parser.add_argument(
        '--metric', default='top1', help='accuracy column (default top1)')
    parser.add_argument('--title', help='figure title')
    parser.add_argument(
        '--out', help='output PNG (default: the per-class file with .png)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    filename = find_per_class_file(args.per_class, args.tag)
    data = load_per_class(filename, args.metric)
    if args.counts:
        counts = load_counts(args.counts)
        if counts.size != data['acc'].size:
            raise ValueError(f'{args.counts} has {counts.size} counts but '
                             f'{filename} has {data["acc"].size} classes')
        data['train_count'] = counts
    else:
        warn_thresholds(data, args.many_thr, args.few_thr)
    out = args.out or osp.splitext(filename)[0] + '.png'
    means = plot_per_class(data, out, args.many_thr, args.few_thr, args.metric,
                           args.title)
    print(f'read {filename} ({data["acc"].size} classes)')
    print('  '.join(f'{k} {v:.2f}' for k, v in means.items()))
    print(f'saved {out}')
    return means


if __name__ == '__main__':
    main()
