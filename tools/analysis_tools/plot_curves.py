# Copyright (c) ltcls contributors. All rights reserved.
"""Plot training curves (loss, lr, accuracy, ...) from mmengine's logs.

mmengine's ``LoggerHook`` writes one JSON object per line to
``<work_dir>/<timestamp>/vis_data/<timestamp>.json`` (``scalars.json`` for
scalars logged without a file name): training lines carry ``lr``, the
losses, ``epoch`` / ``iter`` and ``step`` (the global iteration);
validation lines carry the metrics (``accuracy/top1``, ``accuracy/many``,
...) and ``step`` (the epoch of an epoch-based run, else the iteration).
Lines with ``lr`` are training lines, the others validation lines, as in
mmpretrain's ``load_json_log`` (``tools/analysis_tools/analyze_logs.py``,
which is a script and cannot be imported, hence this tool).

Each input is such a JSON file or a work dir (the newest ``vis_data``
with training lines is used). One panel per key, one curve per run.

Example:
    python tools/analysis_tools/plot_curves.py \\
        work_dirs/ce_digits work_dirs/paco_digits --legend CE PaCo \\
        --keys loss lr accuracy/top1 --x epoch --out curves.png
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np


def find_json_log(path: str) -> str:
    """Return ``path`` if it is a file, else the JSON log of the newest
    ``vis_data`` dir under the work dir ``path`` that holds training lines.

    Raises:
        FileNotFoundError: nothing found.
    """
    if osp.isfile(path):
        return path
    if not osp.isdir(path):
        raise FileNotFoundError(f'no such log file or work dir: {path}')
    candidates = []
    for vis_dir in glob.glob(osp.join(path, '**', 'vis_data'), recursive=True):
        for f in glob.glob(osp.join(vis_dir, '*.json')):
            if _has_train_lines(f):
                candidates.append(f)
    if not candidates:
        raise FileNotFoundError(
            f'no mmengine JSON log with training lines under {path} '
            '(expected <work_dir>/<timestamp>/vis_data/<timestamp>.json or '
            'scalars.json, written by LoggerHook during tools/train.py)')
    return max(candidates, key=lambda f: (osp.getmtime(f), f))


def _has_train_lines(filename: str) -> bool:
    try:
        with open(filename) as f:
            for line in f:
                line = line.strip()
                if line and 'lr' in json.loads(line):
                    return True
    except (ValueError, OSError):
        return False
    return False


def load_json_log(filename: str) -> Dict[str, List[dict]]:
    """Read an mmengine JSON log into ``{'train': [...], 'val': [...]}``
    (lines with ``lr`` are training lines; every line needs ``step``)."""
    if not osp.isfile(filename):
        raise FileNotFoundError(f'log file not found: {filename}')
    logs = dict(train=[], val=[])
    with open(filename) as f:
        for num, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise ValueError(f'{filename}:{num} is not a JSON line; is '
                                 'it an mmengine vis_data log?') from None
            if not isinstance(record, dict) or 'step' not in record:
                continue
            logs['train' if 'lr' in record else 'val'].append(record)
    if not logs['train'] and not logs['val']:
        raise ValueError(f'{filename} has no log lines with a "step"')
    return logs


def _iters_per_epoch(train: Sequence[dict]) -> Optional[float]:
    """Iterations per epoch of an epoch-based run.

    A line logged at global iteration ``step`` during epoch ``e`` has
    ``step <= e * ipe``, so ``ipe >= max(step / e)``; the smallest integer
    that satisfies every line is exact when some line of a completed
    epoch sits near its end and never off by more than the logging
    interval otherwise.
    """
    if not train or 'epoch' not in train[-1]:
        return None
    bound = max(float(r['step']) / max(int(r['epoch']), 1) for r in train)
    return float(math.ceil(bound - 1e-9))


def curve(logs: Dict[str, List[dict]], key: str, x: str = 'iter'):
    """(xs, ys, phase) of ``key`` with x in iterations or epochs.

    Raises:
        KeyError: ``key`` is in no line (the message lists the keys).
    """
    by_epoch = bool(logs['train']) and 'epoch' in logs['train'][0]
    ipe = _iters_per_epoch(logs['train'])
    for phase in ('train', 'val'):
        records = [r for r in logs[phase] if key in r]
        if not records:
            continue
        steps = np.array([float(r['step']) for r in records])
        ys = np.array([float(r[key]) for r in records])
        if phase == 'train':
            xs = steps / ipe if (x == 'epoch' and ipe) else steps
        elif by_epoch:  # val steps are epochs
            xs = steps if x == 'epoch' or not ipe else steps * ipe
        else:
            xs = steps
        return xs, ys, phase
    available = sorted({
        k
        for phase in ('train', 'val')
        for r in logs[phase]
        for k in r if k not in ('step', 'epoch', 'iter')
    })
    raise KeyError(f'key {key!r} is in no log line; available keys: '
                   f'{available}')


def plot_curves(logs_list: Sequence[Dict],
                keys: Sequence[str],
                legends: Sequence[str],
                out: str,
                x: str = 'iter',
                title: Optional[str] = None) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(keys), 1, figsize=(8, 2.8 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        for logs, legend in zip(logs_list, legends):
            xs, ys, phase = curve(logs, key, x)
            ax.plot(
                xs,
                ys,
                marker='o' if phase == 'val' or len(xs) < 30 else None,
                ms=3,
                lw=1,
                label=legend)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[-1, 0].set_xlabel('epochs' if x == 'epoch' else 'iterations')
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plot curves (loss, lr, accuracy/top1, ...) from '
        "mmengine's vis_data JSON logs of one or more runs")
    parser.add_argument(
        'inputs',
        nargs='+',
        help='vis_data/<timestamp>.json or scalars.json logs, or work dirs')
    parser.add_argument(
        '--keys',
        nargs='+',
        default=['loss'],
        help='keys to plot, one panel each (default: loss), e.g. loss lr '
        'accuracy/top1')
    parser.add_argument(
        '--x',
        choices=['iter', 'epoch'],
        default='iter',
        help='x axis: iterations (default) or epochs (epoch-based runs)')
    parser.add_argument(
        '--legend', nargs='+', help='one legend entry per input')
    parser.add_argument('--title', help='figure title')
    parser.add_argument(
        '--out', default='curves.png', help='output PNG (curves.png)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    legends = args.legend or [osp.basename(p.rstrip('/')) for p in args.inputs]
    if len(legends) != len(args.inputs):
        raise ValueError(f'got {len(legends)} --legend entries for '
                         f'{len(args.inputs)} inputs')
    files = [find_json_log(p) for p in args.inputs]
    logs_list = [load_json_log(f) for f in files]
    for f, logs in zip(files, logs_list):
        print(f'{f}: {len(logs["train"])} train / {len(logs["val"])} val '
              'lines')
    plot_curves(logs_list, args.keys, legends, args.out, args.x, args.title)
    print(f'saved {args.out}')
    return files


if __name__ == '__main__':
    main()
