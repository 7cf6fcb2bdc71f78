# Copyright (c) ltcls contributors. All rights reserved.
"""Compare the per-class accuracies of several runs in one figure.

Each input is a work dir (the newest ``per_class_*_<tag>.json`` / ``.csv``
that ``LongTailAccuracy`` wrote under it is used) or such a file. The
figure has two panels: per-class accuracy curves with classes sorted by
training-class frequency (most frequent first; the many / medium / few
bands of the first run are shaded), and a grouped bar chart of overall,
many-, medium- and few-shot accuracy. The numbers are also printed as a
table and can be written to JSON.

Example:
    python tools/analysis_tools/compare_work_dirs.py \\
        work_dirs/ce_digits work_dirs/paco_digits \\
        --labels CE PaCo --many-thr 60 --few-thr 20 --out compare.png
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from plot_per_class_acc import (  # noqa: E402
    SHOTS, find_per_class_file, frequency_order, group_accuracy,
    load_per_class, shade_bands, shot_of, warn_thresholds)

GROUPS = ('overall', ) + SHOTS


def compare(runs: Sequence[Dict],
            labels: Sequence[str],
            out: str,
            many_thr: float = 100,
            few_thr: float = 20,
            metric: str = 'top1',
            title: Optional[str] = None) -> List[Dict[str, float]]:
    """Draw the comparison figure.

    Args:
        runs (Sequence[dict]): Outputs of ``load_per_class``.
        labels (Sequence[str]): One label per run.
        out (str): PNG path.
        many_thr, few_thr (float): Shot thresholds on the train counts.
        metric (str): Accuracy name for the axis label.
        title (str, optional): Figure title.

    Returns:
        list[dict]: Per run, the group accuracies (overall, many, medium,
        few, class_mean) in percent.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    ref = runs[0]['train_count']
    same_counts = all(r['train_count'].shape == ref.shape and (
        r['train_count'] == ref).all() for r in runs)
    if not same_counts:
        print('note: the runs have different train class counts; each curve '
              'is sorted by its own counts and the bands follow the first '
              'run')
    results = []
    fig, (ax_c, ax_b) = plt.subplots(
        1, 2, figsize=(14, 4.8), gridspec_kw=dict(width_ratios=[3, 2]))
    shade_bands(ax_c, shot_of(ref, many_thr, few_thr)[frequency_order(ref)])
    for run, label in zip(runs, labels):
        counts = run['train_count']
        shots = shot_of(counts, many_thr, few_thr)
        means = group_accuracy(run['acc'], run['test_count'], shots)
        results.append(means)
        order = frequency_order(counts)
        ax_c.plot(
            np.arange(len(order)),
            run['acc'][order],
            marker='o' if len(order) <= 50 else None,
            ms=3,
            lw=1.2,
            label=f'{label} (mean {means["class_mean"]:.1f}%)')
    ax_c.set_xlim(-0.5, max(len(r['acc']) for r in runs) - 0.5)
    ax_c.set_ylim(0, 100)
    ax_c.set_xlabel('classes, sorted by training images (most first)')
    ax_c.set_ylabel(f'{metric} accuracy (%)')
    ax_c.legend(fontsize=8, loc='lower left')
    ax_c.set_title('per-class accuracy')

    width = 0.8 / len(runs)
    xs = np.arange(len(GROUPS))
    for i, (means, label) in enumerate(zip(results, labels)):
        values = [means[g] for g in GROUPS]
        bars = ax_b.bar(
            xs + (i - (len(runs) - 1) / 2) * width,
            np.nan_to_num(values),
            width,
            label=label)
        for bar, v in zip(bars, values):
            if np.isfinite(v):
                ax_b.annotate(
                    f'{v:.1f}', (bar.get_x() + bar.get_width() / 2, v),
                    ha='center',
                    va='bottom',
                    fontsize=7)
    ax_b.set_xticks(xs)
    ax_b.set_xticklabels(GROUPS)
    ax_b.set_ylim(0, 105)
    ax_b.set_ylabel(f'{metric} accuracy (%)')
    ax_b.set_title(f'groups (many > {many_thr:g}, few < {few_thr:g} '
                   'train images)')
    ax_b.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return results


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Compare per-class and many / medium / few-shot '
        'accuracy of several work dirs in one PNG')
    parser.add_argument(
        'inputs',
        nargs='+',
        help='work dirs or per-class files (per_class_accuracy_test.json / '
        '.csv written by LongTailAccuracy)')
    parser.add_argument(
        '--labels',
        nargs='+',
        help='one label per input (default: the work dir / file names)')
    parser.add_argument(
        '--tag',
        choices=['test', 'val'],
        help='which per-class file to take from a work dir (default: test, '
        'else val)')
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
        '--out', default='compare.png', help='output PNG (compare.png)')
    parser.add_argument('--json', help='also write the table to this JSON')
    return parser.parse_args(argv)


def _default_label(path: str) -> str:
    path = path.rstrip('/')
    if osp.isdir(path):
        return osp.basename(path)
    return osp.splitext(osp.basename(path))[0]


def main(argv=None):
    args = parse_args(argv)
    labels = args.labels or [_default_label(p) for p in args.inputs]
    if len(labels) != len(args.inputs):
        raise ValueError(f'got {len(labels)} --labels for {len(args.inputs)} '
                         'inputs; give one label per input')
    files = [find_per_class_file(p, args.tag) for p in args.inputs]
    runs = [load_per_class(f, args.metric) for f in files]
    for run in runs:
        warn_thresholds(run, args.many_thr, args.few_thr)
    results = compare(runs, labels, args.out, args.many_thr, args.few_thr,
                      args.metric, args.title)

    width = max(len(s) for s in labels + ['run'])
    print(f'{"run":<{width}} ' + ' '.join(f'{g:>8}' for g in GROUPS))
    for label, means in zip(labels, results):
        print(f'{label:<{width}} ' + ' '.join(f'{means[g]:8.2f}'
                                              for g in GROUPS))
    print(f'saved {args.out}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump([
                dict(
                    label=lab,
                    file=fn,
                    **{
                        k: (None if v != v else v)
                        for k, v in means.items()
                    }) for lab, fn, means in zip(labels, files, results)
            ],
                      f,
                      indent=2)
    return results


if __name__ == '__main__':
    main()
