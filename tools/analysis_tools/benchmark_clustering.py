# Copyright (c) ltcls contributors. All rights reserved.
"""Benchmark SBCL's subclass clustering at ImageNet-LT size.

115,846 L2-normalised 128-d features in 1000 classes with ImageNet-LT-like
counts (1280 ... 5 per class, sum 115,846), delta = 20 (spec_sbcl §3.1, so
m_1 = 64 subclasses for the largest class). Features are a synthetic mixture
(a few modes per class plus noise) so that k-means does real work; labels are
shuffled (the clustering must not rely on class-sorted input).

Prints the wall time of every clustering algorithm (best of ``--repeat``)
together with a baseline measured in the same run: one pass of the plain
per-class loop over the same features (only the similarity products, no
k-means), so the figures can be compared across machines.

``--tol 0`` runs every class for ``max_iters`` Lloyd iterations (worst
case). The clustering is a long chain of small tensor ops: one torch thread
is the default (as in ``SubclassClusteringHook``); on a busy machine two
threads were 10x slower than one (OpenMP threads waiting on each other).

Example::

    python tools/analysis_tools/benchmark_clustering.py --threads 1
    python tools/analysis_tools/benchmark_clustering.py --threads 1 --tol 0
"""
import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from ltcls.models.utils.subclass_clustering import (cluster_subclasses,
                                                    num_subclasses_per_class)

IMAGENET_LT_TRAIN = 115846


def imagenet_lt_like_counts(total: int = IMAGENET_LT_TRAIN) -> np.ndarray:
    """1000 non-increasing counts shaped like ImageNet-LT's train split:
    385 many-shot classes (1280 ... 101), 479 medium (100 ... 20) and 136 few
    (19 ... 5), summing to ``total``. Medium and few are log-linear; the
    many-shot curve ``101 * (1280 / 101) ** (t ** p)`` has its exponent p
    set by bisection to hit the total, the rounding rest goes to the largest
    many-shot classes after the first."""

    def loglin(hi, lo, num):
        grid = np.linspace(np.log(hi), np.log(lo), num)
        return np.floor(np.exp(grid) + 1e-6)

    medium, few = loglin(100, 20, 479), loglin(19, 5, 136)
    t = 1 - np.arange(385) / 384.0

    def many(p):
        return np.floor(101 * (1280 / 101)**(t**p) + 1e-6)

    rest = total - medium.sum() - few.sum()
    lo, hi = 0.01, 100.0
    for _ in range(200):
        p = (lo + hi) / 2
        lo, hi = (p, hi) if many(p).sum() > rest else (lo, p)
    head = many(hi)
    short = int(rest - head.sum())
    head[1:1 + short] += 1
    counts = np.concatenate([head, medium, few]).astype(np.int64)
    assert counts.sum() == total and counts[0] == 1280 and counts[-1] == 5
    assert (np.diff(counts) <= 0).all()
    return counts


def synthetic_features(counts, dim, modes=8, noise=0.35, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.repeat_interleave(
        torch.arange(len(counts)), torch.as_tensor(counts))
    centres = F.normalize(
        torch.randn(len(counts), modes, dim, generator=g), dim=-1)
    mode = torch.randint(0, modes, (labels.numel(), ), generator=g)
    feats = centres[labels, mode] + noise * torch.randn(
        labels.numel(), dim, generator=g) / dim**0.5 * 4
    perm = torch.randperm(labels.numel(), generator=g)
    return F.normalize(feats[perm], dim=1), labels[perm]


def baseline_pass(feats, labels, m):
    """One similarity product per class in a Python loop (reference cost)."""
    for c in range(len(m)):
        x = feats[labels == c]
        k = int(m[c])
        if k > 1:
            x @ x[:k].T


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--dim', type=int, default=128)
    parser.add_argument('--delta', type=int, default=20)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=1)
    parser.add_argument(
        '--max-iters',
        type=int,
        default=None,
        help='default: 50 balanced_greedy, 35 kmeans')
    parser.add_argument(
        '--algos', nargs='+', default=['balanced_greedy', 'kmeans'])
    parser.add_argument('--init', default='kmeans++')
    parser.add_argument(
        '--tol',
        type=float,
        default=1e-3,
        help='convergence tolerance; 0 runs every class for '
        'max_iters iterations (worst case)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    counts = imagenet_lt_like_counts()
    m = num_subclasses_per_class(counts, args.delta)
    feats, labels = synthetic_features(counts, args.dim)
    print(f'features {tuple(feats.shape)}, classes {len(counts)}, counts '
          f'{counts.max()}..{counts.min()} (sum {counts.sum()}), delta '
          f'{args.delta}: {m.sum()} subclasses, {(m > 1).sum()} classes '
          f'clustered, max m_c {m.max()}, torch threads '
          f'{torch.get_num_threads()}')
    t0 = time.perf_counter()
    baseline_pass(feats, labels, m)
    base = time.perf_counter() - t0
    print(f'baseline (one per-class similarity pass, python loop): '
          f'{base:.3f} s')
    for algo in args.algos:
        iters = args.max_iters or (50 if algo == 'balanced_greedy' else 35)
        best = float('inf')
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = cluster_subclasses(
                feats,
                labels,
                len(counts),
                args.delta,
                algo=algo,
                init=args.init,
                max_iters=iters,
                tol=args.tol,
                seed=0)
            best = min(best, time.perf_counter() - t0)
        sizes = res.sizes[res.sizes > 0]
        it = res.iterations[torch.as_tensor(m) > 1]
        print(f'{algo:>16s} ({args.init}, max_iters={iters}, tol={args.tol:g})'
              f': {best:.2f} s '
              f'({best / base:.1f}x baseline), cluster sizes '
              f'{int(sizes.min())}..{int(sizes.max())}, '
              f'{int((res.sizes == 0).sum())} empty, Lloyd iterations per '
              f'clustered class mean {it.float().mean():.1f} max '
              f'{int(it.max())}')


if __name__ == '__main__':
    main()
