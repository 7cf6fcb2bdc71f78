# Copyright (c) ltcls contributors. All rights reserved.
"""Benchmark Hybrid-PSC's ``psc_loss`` at the paper's shapes.

Forward + backward wall time (best of ``--repeat``) and peak memory of
:func:`ltcls.models.losses.psc_loss` against two baselines measured in the
same run, on the same inputs:

* ``naive``: the plain per-anchor loop of Eq. 4 (one masked log-sum-exp per
  anchor in Python), the way the loss is written in the paper;
* ``ce``: ``F.cross_entropy`` over the same prototype logits (the positive
  IN the denominator), i.e. what a standard softmax classifier with C
  normalised weights costs; PSC should cost about the same.

Shapes (spec_hybrid.md §2.7; features and prototypes 128-d, both with
gradients): CIFAR-10-LT / CIFAR-100-LT 512 images x 2 views = 1024 anchors
with C = 10 / 100; iNaturalist 2018 100 images x 2 views = 200 anchors
(the global batch; PSC has no cross-rank term) with C = 8,142.

Peak memory is the growth of the process's peak RSS during one forward +
backward, each measurement in a fresh process (CPU has no resettable
allocator statistics); it includes the autograd graph and the gradients.

Example::

    OMP_NUM_THREADS=2 python tools/analysis_tools/benchmark_hybrid.py \\
        --threads 2
"""
import argparse
import multiprocessing as mp
import resource
import time

import torch
import torch.nn.functional as F

SHAPES = {
    'cifar10-lt': (1024, 10),
    'cifar100-lt': (1024, 100),
    'inat2018': (200, 8142),
}
DIM = 128


def _inputs(n, c, seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, DIM, generator=g).requires_grad_()
    protos = torch.randn(c, DIM, generator=g).requires_grad_()
    labels = torch.randint(0, c, (n, ), generator=g)
    return feats, labels, protos


def run_ltcls(feats, labels, protos, tau):
    from ltcls.models.losses.psc_loss import psc_loss
    return psc_loss(feats, labels, protos, tau)


def run_naive(feats, labels, protos, tau):
    z = F.normalize(feats, dim=1)
    p = F.normalize(protos, dim=1)
    total = 0.
    for i in range(z.shape[0]):
        s = p @ z[i] / tau
        y = int(labels[i])
        neg = torch.cat([s[:y], s[y + 1:]])
        total = total - s[y] + torch.logsumexp(neg, 0)
    return total / z.shape[0]


def run_ce(feats, labels, protos, tau):
    logits = F.normalize(feats, dim=1) @ F.normalize(protos, dim=1).t() / tau
    return F.cross_entropy(logits, labels)


VARIANTS = {'ltcls': run_ltcls, 'naive': run_naive, 'ce': run_ce}


def _fwd_bwd(fn, feats, labels, protos, tau):
    feats.grad = None
    protos.grad = None
    loss = fn(feats, labels, protos, tau)
    loss.backward()
    return loss


def _rss_kb():
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() // 1024


def _measure(args):
    """Child process: (best seconds, peak RSS growth in MiB, loss)."""
    name, shape, tau, repeat, threads = args
    torch.set_num_threads(threads)
    import ltcls.models.losses.psc_loss  # noqa: F401  (import before RSS)
    fn = VARIANTS[name]
    feats, labels, protos = _inputs(*SHAPES[shape])
    before = _rss_kb()
    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    loss = _fwd_bwd(fn, feats, labels, protos, tau)  # first call: memory
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # growth of the peak above the RSS before the call; if the earlier peak
    # (imports) was never exceeded, only an upper bound is known
    mem = (peak - before) / 1024
    exact = peak > peak0
    best = float('inf')
    for _ in range(repeat):
        t0 = time.perf_counter()
        _fwd_bwd(fn, feats, labels, protos, tau)
        best = min(best, time.perf_counter() - t0)
    return best, (mem, exact), float(loss.detach())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--shapes', nargs='+', default=list(SHAPES),
                        choices=list(SHAPES))
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--tau', type=float, default=0.1)
    args = parser.parse_args()
    ctx = mp.get_context('spawn')
    print(f'psc_loss fwd+bwd, d={DIM}, tau={args.tau}, torch threads '
          f'{args.threads}, best of {args.repeat}; memory = peak RSS growth '
          'of one fwd+bwd in a fresh process')
    header = (f'{"shape":>12s} {"N x C":>12s} {"variant":>7s} {"ms":>9s} '
              f'{"x ltcls":>8s} {"MiB":>8s} {"loss":>10s}')
    print(header)
    for shape in args.shapes:
        res = {}
        for name in VARIANTS:
            with ctx.Pool(1) as pool:
                res[name] = pool.apply(
                    _measure,
                    ((name, shape, args.tau, args.repeat, args.threads), ))
        n, c = SHAPES[shape]
        assert abs(res['naive'][2] - res['ltcls'][2]) < 1e-3, res
        for name, (sec, (mem, exact), loss) in res.items():
            mem_s = f'{mem:.1f}' if exact else f'<={mem:.1f}'
            print(f'{shape:>12s} {f"{n} x {c}":>12s} {name:>7s} '
                  f'{sec * 1e3:9.2f} {sec / res["ltcls"][0]:8.2f} '
                  f'{mem_s:>8s} {loss:10.4f}')


if __name__ == '__main__':
    main()
