# Copyright (c) ltcls contributors. All rights reserved.
"""Balancedness of a checkpoint's feature space (Kang et al., ICLR 2021).

Builds the model of CONFIG, loads CHECKPOINT (a Runner or a published
checkpoint), extracts the backbone / neck features of the **train** set
(with the test pipeline, no augmentation) and of the evaluation split,
fits a classifier on the train features, and reports the per-class top-1
accuracies ``a_j`` of that classifier on the evaluation split together
with the balancedness

    beta = mean_{i,j} exp(-|a_i - a_j| / sigma)

computed by ltcls's metric core (:func:`ltcls.evaluation.metrics.
balancedness`, accuracies as fractions). As in the metric, sigma has no
default (the paper gives no value); pass one or several.

Classifiers on the features (``--classifier``):

* ``ncm`` (default): nearest class mean, cosine similarity to the mean of
  each class's L2-normalised train features; no training, and the class
  frequencies only enter through the features themselves;
* ``linear``: a linear probe (softmax regression) on the standardised
  train features, class-balanced loss weights, Adam, fixed seed; the
  paper's protocol uses a linear probe trained on balanced data;
* ``head``: the model's own classification head (not a property of the
  features alone; for reference).

Example:
    python tools/analysis_tools/balancedness_report.py \\
        configs/quickstart/resnet32_ce_digits-lt.py \\
        work_dirs/resnet32_ce_digits-lt/epoch_30.pth --sigma 0.1 0.5 \\
        --out balancedness.json --png balancedness.png
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
from typing import Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import ltcls  # noqa: E402,F401  (version checks, safe checkpoint loading)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner, load_checkpoint  # noqa: E402

from ltcls.engine.hooks import dataset_class_counts  # noqa: E402
from ltcls.evaluation.metrics.balancedness import balancedness  # noqa: E402
from ltcls.evaluation.metrics.long_tail_accuracy import (  # noqa: E402
    per_class_correct, shot_args_from_config, shot_groups)
from ltcls.registry import DATASETS, MODELS  # noqa: E402
from ltcls.utils.checkpoint import check_checkpoint_matches  # noqa: E402
from ltcls.utils.training_state import is_training_only_key  # noqa: E402

CLASSIFIERS = ('ncm', 'linear', 'head')
STAGES = ('neck', 'backbone')


def _inner_dataset_cfg(ds_cfg):
    """The dataset inside wrappers (DualStreamDataset, ClassBalanced-,
    RepeatDataset), which keep theirs under ``dataset``."""
    ds_cfg = copy.deepcopy(ds_cfg)
    while isinstance(ds_cfg, dict) and isinstance(
            ds_cfg.get('dataset', None), dict):
        ds_cfg = ds_cfg['dataset']
    return ds_cfg


def _loader_cfg(dataset_cfg, batch_size: int) -> dict:
    return dict(
        batch_size=batch_size,
        num_workers=0,
        dataset=dataset_cfg,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'))


@torch.no_grad()
def extract_features(model,
                     dataloader,
                     stage: str = 'neck',
                     device: str = 'cpu'):
    """(N, D) features and (N, ) labels of a dataloader.

    ``stage='neck'``: the neck output (the feature the head sees);
    ``'backbone'``: the last backbone output, globally average-pooled.
    """
    feats, labels = [], []
    for data in dataloader:
        data = model.data_preprocessor(data, False)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        out = model.extract_feat(inputs.to(device), stage=stage)
        x = out[-1] if isinstance(out, (list, tuple)) else out
        if x.dim() > 2:
            x = x.flatten(2).mean(-1)
        feats.append(x.float().cpu())
        labels.append(
            torch.cat([s.gt_label.view(-1)[:1] for s in data['data_samples']]))
    return torch.cat(feats), torch.cat(labels).long()


def ncm_predict(train_x: torch.Tensor, train_y: torch.Tensor,
                eval_x: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Nearest class mean (cosine) predictions."""
    tx = F.normalize(train_x.double(), dim=1)
    means = torch.zeros(num_classes, tx.size(1), dtype=torch.float64)
    means.index_add_(0, train_y, tx)
    counts = torch.bincount(train_y, minlength=num_classes)
    means = F.normalize(means, dim=1)
    sim = F.normalize(eval_x.double(), dim=1) @ means.t()
    sim[:, counts == 0] = -float('inf')
    return sim.argmax(dim=1)


def linear_probe_predict(train_x: torch.Tensor,
                         train_y: torch.Tensor,
                         eval_x: torch.Tensor,
                         num_classes: int,
                         epochs: int = 100,
                         lr: float = 0.01,
                         batch_size: int = 1024,
                         weight_decay: float = 1e-4,
                         seed: int = 0) -> torch.Tensor:
    """Softmax regression with class-balanced loss weights on standardised
    features, trained with Adam (written out: ``torch.optim`` would pull in
    ``torch._dynamo``, seconds of import for a few hundred tiny steps) and
    a fixed seed; returns the predictions on ``eval_x``.

    Small problems run on one thread: with (N, D) this small the OpenMP
    start-up and synchronisation of every op cost more than the work, by
    orders of magnitude on a busy machine."""
    threads = torch.get_num_threads()
    if train_x.numel() * num_classes < 10_000_000:
        torch.set_num_threads(1)
    try:
        return _linear_probe(train_x, train_y, eval_x, num_classes, epochs, lr,
                             batch_size, weight_decay, seed)
    finally:
        torch.set_num_threads(threads)


def _linear_probe(train_x, train_y, eval_x, num_classes, epochs, lr,
                  batch_size, weight_decay, seed):
    gen = torch.Generator().manual_seed(seed)
    mean = train_x.mean(0, keepdim=True)
    std = train_x.std(0, keepdim=True).clamp_min(1e-6)
    tx = (train_x - mean) / std
    ex = (eval_x - mean) / std
    counts = torch.bincount(train_y, minlength=num_classes).float()
    weight = torch.where(counts > 0, 1.0 / counts.clamp_min(1),
                         torch.zeros_like(counts))
    weight = weight * (counts > 0).sum() / weight.sum()
    w = (0.01 * torch.randn(num_classes, tx.size(1), generator=gen))
    b = torch.zeros(num_classes)
    params = [w.requires_grad_(), b.requires_grad_()]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    n, step = tx.size(0), 0
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            loss = F.cross_entropy(
                tx[idx] @ w.t() + b, train_y[idx], weight=weight)
            grads = torch.autograd.grad(loss, params)
            step += 1
            with torch.no_grad():
                for p, g, (m, v) in zip(params, grads, moments):
                    g = g + weight_decay * p
                    m.mul_(beta1).add_(g, alpha=1 - beta1)
                    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                    m_hat = m / (1 - beta1**step)
                    v_hat = v / (1 - beta2**step)
                    p.sub_(lr * m_hat / (v_hat.sqrt() + eps))
    with torch.no_grad():
        return (ex @ w.t() + b).argmax(dim=1)


def balancedness_table(pred: torch.Tensor,
                       labels: torch.Tensor,
                       class_counts: Sequence[int],
                       sigmas: Sequence[float],
                       class_names: Optional[Sequence[str]] = None,
                       **shot_args) -> Dict:
    """Per-class accuracies of ``pred`` and beta for every sigma.

    Returns:
        dict: ``beta`` ({sigma: beta}), ``class_mean`` and ``top1``
        (percent), ``per_shot`` (mean accuracy per shot group, percent) and
        ``per_class`` rows (``acc`` in percent, None if the class has no
        evaluation sample). Classes without evaluation samples are left out
        of beta, as in the ``Balancedness`` metric.
    """
    counts = np.asarray(class_counts)
    num_classes = counts.size
    correct, total = per_class_correct(
        pred.view(-1, 1), labels, num_classes, k=1)
    evaluated = total > 0
    if not evaluated.any():
        raise ValueError('no evaluation samples')
    acc = np.where(evaluated, correct / np.maximum(total, 1), np.nan)
    shots = shot_groups(counts, **shot_args)
    per_shot = {}
    for shot in ('many', 'medium', 'few'):
        sel = evaluated & (shots == shot)
        per_shot[shot] = float(100 * acc[sel].mean()) if sel.any() else None
    rows = [
        dict(
            class_index=j,
            class_name=str(class_names[j])
            if class_names is not None and j < len(class_names) else str(j),
            train_count=int(counts[j]),
            shot=str(shots[j]),
            eval_count=int(total[j]),
            acc=None if not evaluated[j] else float(100 * acc[j]))
        for j in range(num_classes)
    ]
    return dict(
        beta={float(s): balancedness(acc[evaluated], s)
              for s in sigmas},
        top1=float(100 * correct.sum() / total.sum()),
        class_mean=float(100 * acc[evaluated].mean()),
        class_std=float(100 * acc[evaluated].std()),
        per_shot=per_shot,
        per_class=rows)


def print_report(report: Dict, max_rows: int = 50) -> None:
    rows = report['per_class']
    if len(rows) <= max_rows:
        print(f'{"class":>6} {"name":>12} {"train":>7} {"shot":>7} '
              f'{"eval":>6} {"acc%":>7}')
        for r in rows:
            acc = '-' if r['acc'] is None else f'{r["acc"]:7.2f}'
            print(f'{r["class_index"]:>6} {str(r["class_name"])[:12]:>12} '
                  f'{r["train_count"]:>7} {r["shot"]:>7} '
                  f'{r["eval_count"]:>6} {acc:>7}')
    else:
        print(f'{len(rows)} classes (per-class rows in the JSON)')
    shots = ' '.join(f'{k} {"-" if v is None else f"{v:.2f}"}'
                     for k, v in report['per_shot'].items())
    print(f'classifier {report["classifier"]} on {report["stage"]} features, '
          f'evaluated on {report["eval_split"]}: top1 {report["top1"]:.2f}, '
          f'class mean {report["class_mean"]:.2f} '
          f'(std {report["class_std"]:.2f}); {shots}')
    print(f'{"sigma":>8} {"beta":>8}')
    for sigma, beta in report['beta'].items():
        print(f'{float(sigma):>8g} {beta:8.4f}')


def plot_report(report: Dict, out: str) -> None:
    """Per-class accuracy sorted by train count, betas in the title."""
    from plot_per_class_acc import plot_per_class
    rows = report['per_class']
    data = dict(
        acc=np.array([np.nan if r['acc'] is None else r['acc'] for r in rows]),
        train_count=np.array([r['train_count'] for r in rows]),
        test_count=np.array([r['eval_count'] for r in rows]),
        class_name=[str(r['class_name']) for r in rows],
        file=report['checkpoint'])
    betas = ', '.join(f'beta(sigma={float(s):g})={b:.3f}'
                      for s, b in report['beta'].items())
    plot_per_class(
        data,
        out,
        many_thr=report['shot_args'].get('many_thr', 100),
        few_thr=report['shot_args'].get('few_thr', 20),
        title=f'{report["classifier"]} on {report["stage"]} features, '
        f'{report["eval_split"]} split\n{betas}')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Balancedness (Kang et al. 2021) of the feature space '
        'of a checkpoint: per-class accuracy of a classifier fitted on the '
        'train features, and beta for each sigma')
    parser.add_argument('config', help='config of the model and datasets')
    parser.add_argument('checkpoint', help='checkpoint file (local path)')
    parser.add_argument(
        '--sigma',
        type=float,
        nargs='+',
        required=True,
        help='scale(s) of |a_i - a_j| with accuracies as fractions; the '
        'paper gives no value, so it is required (e.g. 0.1 0.5)')
    parser.add_argument(
        '--classifier',
        choices=CLASSIFIERS,
        default='ncm',
        help='classifier fitted on the train features (default ncm)')
    parser.add_argument(
        '--stage',
        choices=STAGES,
        default='neck',
        help='features: neck output (default) or pooled backbone output')
    parser.add_argument(
        '--eval-split',
        choices=['test', 'val', 'train'],
        default='test',
        help='split the accuracies are measured on (default test)')
    parser.add_argument(
        '--many-thr',
        type=float,
        help="many-shot threshold (default: the config's LongTailAccuracy, "
        'else 100)')
    parser.add_argument(
        '--few-thr',
        type=float,
        help="few-shot threshold (default: the config's LongTailAccuracy, "
        'else 20)')
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument(
        '--probe-epochs',
        type=int,
        default=100,
        help='epochs of the linear probe (--classifier linear)')
    parser.add_argument(
        '--out',
        help='JSON report (default: balancedness_<classifier>_<split>.json '
        'next to the checkpoint)')
    parser.add_argument('--png', help='also plot per-class accuracy here')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    for s in args.sigma:
        if not s > 0:
            raise ValueError(f'--sigma must be > 0, got {s}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'ltcls'))

    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor', None) is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    check_checkpoint_matches(
        model, args.checkpoint, ignore_missing=is_training_only_key)
    load_checkpoint(
        model,
        args.checkpoint,
        map_location='cpu',
        strict=False,
        logger='silent')
    if args.classifier == 'head' and not getattr(model, 'with_head', False):
        raise ValueError(f'{type(model).__name__} has no head; use '
                         '--classifier ncm or linear')
    model.to(args.device).eval()

    for key in ('train_dataloader', 'test_dataloader'):
        if cfg.get(key, None) is None:
            raise KeyError(f'the config has no {key}')
    test_ds = _inner_dataset_cfg(cfg.test_dataloader.dataset)
    train_ds = _inner_dataset_cfg(cfg.train_dataloader.dataset)
    train_ds['pipeline'] = copy.deepcopy(test_ds.get('pipeline', []))
    train_set = DATASETS.build(copy.deepcopy(train_ds))
    counts = dataset_class_counts(train_set)
    classes = train_set.metainfo.get('classes', None)
    num_classes = counts.size

    train_loader = Runner.build_dataloader(
        _loader_cfg(train_set, args.batch_size))
    train_x, train_y = extract_features(model, train_loader, args.stage,
                                        args.device)
    if args.eval_split == 'train':
        eval_x, eval_y = train_x, train_y
    else:
        loader = cfg.get(f'{args.eval_split}_dataloader', None)
        if loader is None:
            raise KeyError(f'the config has no {args.eval_split}_dataloader')
        eval_loader = Runner.build_dataloader(
            _loader_cfg(_inner_dataset_cfg(loader.dataset), args.batch_size))
        eval_x, eval_y = extract_features(model, eval_loader, args.stage,
                                          args.device)

    if args.classifier == 'ncm':
        pred = ncm_predict(train_x, train_y, eval_x, num_classes)
    elif args.classifier == 'linear':
        pred = linear_probe_predict(
            train_x, train_y, eval_x, num_classes, epochs=args.probe_epochs)
    else:
        if args.stage != 'neck':
            raise ValueError('--classifier head needs --stage neck')
        with torch.no_grad():
            logits = model.head((eval_x.to(args.device), ))
        pred = logits.argmax(dim=1).cpu()

    shot_args = shot_args_from_config(cfg)
    if args.many_thr is not None:
        shot_args['many_thr'] = args.many_thr
    if args.few_thr is not None:
        shot_args['few_thr'] = args.few_thr
    report = balancedness_table(pred, eval_y, counts, args.sigma, classes,
                                **shot_args)
    report = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        classifier=args.classifier,
        stage=args.stage,
        eval_split=args.eval_split,
        feature_dim=int(train_x.size(1)),
        num_train=int(train_x.size(0)),
        num_eval=int(eval_x.size(0)),
        shot_args=shot_args,
        **report)
    report['beta'] = {str(k): v for k, v in report['beta'].items()}
    print_report(report)

    out = args.out or osp.join(
        osp.dirname(osp.abspath(args.checkpoint)),
        f'balancedness_{args.classifier}_{args.eval_split}.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(report, f, indent=2)
    print(f'report written to {out}')
    if args.png:
        plot_report(report, args.png)
        print(f'plot saved to {args.png}')
    return report


if __name__ == '__main__':
    main()
