# Copyright (c) ltcls contributors. All rights reserved.
"""Sweep the tau of a tau-normalised classifier (Kang et al. 2020).

Extracts the features of a checkpoint once, then scores the classifier
``x @ (W_i / ||W_i||^tau)^T`` (bias dropped) for every tau and reports
top-1 and many / medium / few-shot accuracy; the best tau is chosen by
``--select``. The decoupling paper selects tau on a validation split:
use ``--split val`` where the dataset has one (ImageNet-LT), ``test``
reproduces the KCL code, which reports the best tau on test.

Example:
    python tools/analysis_tools/tau_norm_sweep.py \\
        configs/tau_norm/tau-norm_resnet32_ce-pre_digits-lt-if50.py \\
        work_dirs/ce_resnet32_1xb32-coslr-40e_digits-lt-if50/epoch_40.pth \\
        --out tau_sweep.json
"""
import argparse
import copy
import json
import os.path as osp
import sys
from typing import Dict, List, Sequence

import numpy as np
import torch

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import ltcls  # noqa: E402,F401  (version checks, safe checkpoint loading)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner, load_checkpoint  # noqa: E402

from ltcls.engine.hooks import dataset_class_counts  # noqa: E402
from ltcls.evaluation.metrics import (long_tail_accuracy,  # noqa: E402
                                     shot_args_from_config)
from ltcls.models.heads import tau_normalize  # noqa: E402
from ltcls.registry import DATASETS, MODELS  # noqa: E402
from ltcls.utils.checkpoint import check_checkpoint_matches  # noqa: E402

DEFAULT_TAUS = tuple(round(0.1 * i, 1) for i in range(11))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Evaluate a linear classifier with tau-normalised '
        'weights for several tau')
    parser.add_argument('config', help='config of the (CE) model')
    parser.add_argument('checkpoint', help='checkpoint file (local path)')
    parser.add_argument(
        '--taus',
        type=float,
        nargs='+',
        default=list(DEFAULT_TAUS),
        help='values of tau (default 0, 0.1, ..., 1.0)')
    parser.add_argument(
        '--split',
        choices=['val', 'test'],
        default='test',
        help='dataloader of the config to evaluate on')
    parser.add_argument(
        '--select',
        default='top1',
        help='metric that picks the best tau (top1, many, medium, few, '
        'class_mean)')
    parser.add_argument('--out', help='write the sweep to this JSON file')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs')
    return parser.parse_args(argv)


def sweep_tau(feats: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor,
              class_counts: Sequence[int], taus: Sequence[float],
              **shot_args) -> List[Dict[str, float]]:
    """Accuracies of ``feats @ tau_normalize(weight, tau).T`` for each tau.

    Args:
        feats (Tensor): (N, D) pre-logit features.
        labels (Tensor): (N, ) ground truth.
        weight (Tensor): (C, D) classifier weights.
        class_counts (Sequence[int]): (C, ) train images per class.
        taus (Sequence[float]): values of tau.
        **shot_args: ``many_thr``, ``few_thr``, ``few_inclusive``.

    Returns:
        list[dict]: per tau, ``tau`` and the metrics of
        :func:`ltcls.evaluation.metrics.long_tail_accuracy` (percent).
    """
    rows = []
    for tau in taus:
        logits = feats @ tau_normalize(weight, tau).t()
        pred = logits.topk(1, dim=1).indices
        metrics, _ = long_tail_accuracy(pred, labels, class_counts, (1, ),
                                        **shot_args)
        rows.append(dict(tau=float(tau), **metrics))
    return rows


@torch.no_grad()
def extract_features(model, dataloader, device):
    feats, labels = [], []
    for data in dataloader:
        data = model.data_preprocessor(data, False)
        x = model.head.pre_logits(
            model.extract_feat(data['inputs'].to(device)))
        feats.append(x.float().cpu())
        labels.append(torch.cat([s.gt_label for s in data['data_samples']]))
    return torch.cat(feats), torch.cat(labels)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    if any(t < 0 for t in args.taus):
        raise ValueError(f'--taus must be >= 0, got {args.taus}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'ltcls'))

    model_cfg = copy.deepcopy(cfg.model)
    # as mmengine's Runner does: the top-level data_preprocessor (mean /
    # std...) belongs to the model unless the model sets its own
    if cfg.get('data_preprocessor', None) is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    check_checkpoint_matches(model, args.checkpoint)
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    fc = getattr(model.head, 'fc', None)
    if not isinstance(fc, torch.nn.Linear):
        raise TypeError(f'{type(model.head).__name__} has no linear `fc` '
                        'layer; tau-normalisation needs a linear classifier')
    model.to(args.device).eval()

    loader_cfg = cfg.get(f'{args.split}_dataloader', None)
    if loader_cfg is None:
        raise KeyError(f'the config has no {args.split}_dataloader')
    dataloader = Runner.build_dataloader(copy.deepcopy(loader_cfg))
    if cfg.get('train_dataloader', None) is None:
        raise KeyError('the config has no train_dataloader: the shot groups '
                       'need the train class counts')
    counts = dataset_class_counts(
        DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset)))

    feats, labels = extract_features(model, dataloader, args.device)
    rows = sweep_tau(feats, labels,
                     fc.weight.detach().float().cpu(), counts, args.taus,
                     **shot_args_from_config(cfg, (args.split, )))
    if args.select not in rows[0]:
        raise KeyError(f'--select {args.select!r} is not one of '
                       f'{sorted(k for k in rows[0] if k != "tau")}')
    scores = [r[args.select] for r in rows]
    best = rows[int(np.nanargmax(scores))]

    header = f'{"tau":>5} ' + ' '.join(
        f'{k:>10}' for k in ('top1', 'many', 'medium', 'few', 'class_mean'))
    print(header)
    for r in rows:
        print(f'{r["tau"]:5.2f} ' + ' '.join(
            f'{r[k]:10.2f}'
            for k in ('top1', 'many', 'medium', 'few', 'class_mean')))
    print(f'best tau by {args.select} on {args.split}: {best["tau"]:g} '
          f'({args.select} {best[args.select]:.2f})')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(
                    select=args.select,
                    split=args.split,
                    best=best,
                    sweep=rows),
                f,
                indent=2)
    return rows, best


if __name__ == '__main__':
    main()
