# Copyright (c) ltcls contributors. All rights reserved.
"""Benchmark the queue / in-batch contrastive losses at paper shapes.

For every loss entry and every (per-GPU batch B, queue length K) shape, the
script measures, on the same inputs in the same run:

* forward + backward wall time (best of ``--repeat``) of the ltcls loss and
  of a naive reference (a Python loop over anchors, each anchor's masked
  softmax computed on its own, the way the formulas are written), and
* the peak memory of one forward + backward of each, in a fresh process:
  the peak RSS (VmHWM, reset through /proc/self/clear_refs) minus the RSS
  before the call (CPU has no allocator statistics); it includes the
  autograd graph and the gradients,

and reports the ratios naive / ltcls. It also checks that both give the
same loss where they are deterministic (SupCon, FCL).

Shapes (ImageNet-LT, spec_kcl.md section 2.7, spec_paco.md): per-GPU batch
32-128, queue 8,192 (PaCo) and 65,536 (KCL / MoCo), embedding dim 128,
1,000 classes with ImageNet-LT-like label frequencies (the LDAM profile
1,280 .. 5). SupCon uses two views of the batch (2B anchors) plus the queue.

Adding a loss: write ``make_inputs(batch, queue_len, seed) -> dict``, an
``ltcls(inputs) -> loss`` and a ``naive(inputs) -> loss``, and add them to
``ENTRIES``.

Example (CPU-friendly defaults)::

    OMP_NUM_THREADS=2 python tools/analysis_tools/benchmark_losses.py
    python tools/analysis_tools/benchmark_losses.py --losses kcl --batches 32 \\
        --queues 65536 --repeat 3
"""
import argparse
import multiprocessing as mp
import os
import resource
import time

import torch
import torch.nn.functional as F

DIM = 128
NUM_CLASSES = 1000


def _labels(n, g):
    """Labels with ImageNet-LT-like frequencies (1,280 .. 5 per class)."""
    from ltcls.datasets.long_tail import long_tail_counts
    counts = torch.tensor(
        long_tail_counts(1280, NUM_CLASSES, 256), dtype=torch.float)
    return torch.multinomial(counts, n, replacement=True, generator=g)


def _queue(queue_len, g, empty_frac=0.0):
    keys = F.normalize(torch.randn(queue_len, DIM, generator=g), dim=1)
    labels = _labels(queue_len, g)
    if empty_frac:
        labels[torch.rand(queue_len, generator=g) < empty_frac] = -1
    return keys, labels


# --------------------------------------------------------------- SupCon ---
def supcon_inputs(batch, queue_len, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = _labels(batch, g)
    feats = torch.randn(2 * batch, DIM, generator=g).requires_grad_()
    qk, ql = _queue(queue_len, g, empty_frac=0.01)
    return dict(feats=feats, labels=y.repeat(2), qk=qk, ql=ql, t=0.07)


def supcon_ltcls(x):
    from ltcls.models.losses import supcon_loss
    return supcon_loss(
        F.normalize(x['feats'], dim=1), x['labels'], x['qk'], x['ql'], x['t'])


def supcon_naive(x):
    z = F.normalize(x['feats'], dim=1)
    valid_q = x['ql'] >= 0
    qk, ql = x['qk'][valid_q], x['ql'][valid_q]  # once, not per anchor
    total, count = 0., 0
    for i in range(z.shape[0]):
        s = torch.cat([z[:i] @ z[i], z[i + 1:] @ z[i], qk @ z[i]]) / x['t']
        labels = torch.cat([x['labels'][:i], x['labels'][i + 1:], ql])
        pos = labels == x['labels'][i]
        if not pos.any():
            continue
        total = total - (s[pos] - torch.logsumexp(s, 0)).mean()
        count += 1
    return total / max(count, 1)


# ------------------------------------------------------------- KCL / FCL ---
def kcl_inputs(batch, queue_len, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, DIM, generator=g).requires_grad_()
    k = F.normalize(torch.randn(batch, DIM, generator=g), dim=1)
    qk, ql = _queue(queue_len, g)
    return dict(q=q, k=k, labels=_labels(batch, g), qk=qk, ql=ql, t=0.07)


def _kcl_ltcls(x, pos_k):
    from ltcls.models.losses import kcl_loss
    return kcl_loss(
        F.normalize(x['q'], dim=1),
        x['k'],
        x['labels'],
        x['qk'],
        x['ql'],
        pos_k,
        x['t'],
        'random',
        row_offset=0)


def _kcl_naive(x, pos_k):
    q = F.normalize(x['q'], dim=1)
    g = torch.Generator().manual_seed(0)
    valid = x['ql'] >= 0
    qk, ql = x['qk'][valid], x['ql'][valid]  # once, not per anchor
    total = 0.
    for i in range(q.shape[0]):
        s_own = torch.dot(q[i], x['k'][i]) / x['t']
        s = qk @ q[i] / x['t']
        same = torch.nonzero(ql == x['labels'][i]).flatten()
        if pos_k is not None and len(same) > pos_k:
            same = same[torch.randperm(len(same), generator=g)[:pos_k]]
        lse = torch.logsumexp(torch.cat([s_own.view(1), s]), 0)
        pos = torch.cat([s_own.view(1), s[same]])
        total = total - (pos - lse).mean()
    return total / q.shape[0]


def kcl_ltcls(x):
    return _kcl_ltcls(x, 6)


def kcl_naive(x):
    return _kcl_naive(x, 6)


def fcl_ltcls(x):
    return _kcl_ltcls(x, None)


def fcl_naive(x):
    return _kcl_naive(x, None)


#: name -> (make_inputs, ltcls, naive, values comparable)
ENTRIES = {
    'supcon': (supcon_inputs, supcon_ltcls, supcon_naive, True),
    'kcl': (kcl_inputs, kcl_ltcls, kcl_naive, False),
    'fcl': (kcl_inputs, fcl_ltcls, fcl_naive, True),
}

# ------------------------------------------------ PSC (Hybrid-PSC, Eq. 4) ---
# PSC has no queue: its negatives are the C - 1 other class prototypes, so K
# is ignored and C is iNaturalist 2018's 8,142 classes (the paper's largest
# prototype bank, spec_hybrid.md section 2.7); 2B anchors (two views).
# tools/analysis_tools/benchmark_hybrid.py also covers the CIFAR-LT shapes.
PSC_CLASSES = 8142


def psc_inputs(batch, queue_len, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        feats=torch.randn(2 * batch, DIM, generator=g).requires_grad_(),
        labels=torch.randint(0, PSC_CLASSES, (2 * batch, ), generator=g),
        protos=torch.randn(PSC_CLASSES, DIM, generator=g).requires_grad_(),
        t=0.1)


def psc_ltcls(x):
    from ltcls.models.losses import psc_loss
    return psc_loss(x['feats'], x['labels'], x['protos'], x['t'])


def psc_naive(x):
    z = F.normalize(x['feats'], dim=1)
    p = F.normalize(x['protos'], dim=1)
    total = 0.
    for i in range(z.shape[0]):
        s = p @ z[i] / x['t']
        y = int(x['labels'][i])
        total = total - s[y] + torch.logsumexp(
            torch.cat([s[:y], s[y + 1:]]), 0)  # positive not in denominator
    return total / z.shape[0]


ENTRIES['psc'] = (psc_inputs, psc_ltcls, psc_naive, True)


def _grad_leaves(x):
    return [
        v for v in x.values()
        if isinstance(v, torch.Tensor) and v.requires_grad
    ]


def fwd_bwd(fn, x):
    for v in _grad_leaves(x):
        v.grad = None
    loss = fn(x)
    loss.backward()
    return float(loss.detach())


def time_it(fn, x, repeat):
    fwd_bwd(fn, x)  # warm-up
    best = float('inf')
    for _ in range(repeat):
        t0 = time.perf_counter()
        fwd_bwd(fn, x)
        best = min(best, time.perf_counter() - t0)
    return best


def _status_kb(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(field)


def _peak_worker(name, variant, batch, queue_len, threads, out):
    torch.set_num_threads(threads)
    make, ltcls, naive, _ = ENTRIES[name]
    x = make(batch, queue_len)
    fn = ltcls if variant == 'ltcls' else naive
    fwd_bwd(fn, x)  # lazy initialisations happen outside the measurement
    try:
        # Linux: writing 5 resets the peak RSS (VmHWM) to the current RSS
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        base = _status_kb('VmRSS')
        fwd_bwd(fn, x)
        peak = _status_kb('VmHWM')
    except OSError:  # no /proc: growth of ru_maxrss (coarser)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fwd_bwd(fn, x)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.put((peak - base) / 1024.0)  # kB -> MB


def peak_mb(name, variant, batch, queue_len, threads):
    # A fixed glibc mmap threshold makes every buffer >= 64 kB its own
    # mapping, returned to the OS when freed, so RSS follows the live
    # tensors (the default dynamic threshold keeps freed buffers resident).
    old = os.environ.get('MALLOC_MMAP_THRESHOLD_')
    os.environ['MALLOC_MMAP_THRESHOLD_'] = '65536'
    try:
        ctx = mp.get_context('spawn')
        out = ctx.Queue()
        p = ctx.Process(
            target=_peak_worker,
            args=(name, variant, batch, queue_len, threads, out))
        p.start()
        value = out.get()
        p.join()
    finally:
        if old is None:
            del os.environ['MALLOC_MMAP_THRESHOLD_']
        else:
            os.environ['MALLOC_MMAP_THRESHOLD_'] = old
    return value


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--losses', nargs='+', default=list(ENTRIES), choices=list(ENTRIES))
    parser.add_argument('--batches', nargs='+', type=int, default=[32, 128])
    parser.add_argument('--queues', nargs='+', type=int, default=[8192, 65536])
    parser.add_argument('--repeat', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument(
        '--no-memory',
        action='store_true',
        help='skip the (slower, one process each) peak-memory measurement')
    return parser.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    header = ('loss', 'B', 'K', 'ltcls ms', 'naive ms', 'naive/ltcls time',
              'ltcls MB', 'naive MB', 'naive/ltcls mem', '|dloss|')
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    for name in args.losses:
        make, ltcls, naive, comparable = ENTRIES[name]
        for batch in args.batches:
            for queue_len in args.queues:
                x = make(batch, queue_len)
                t_l = time_it(ltcls, x, args.repeat)
                t_n = time_it(naive, x, args.repeat)
                diff = abs(fwd_bwd(ltcls, x) - fwd_bwd(naive, x))
                diff = f'{diff:.1e}' if comparable else 'n/a (random k)'
                if args.no_memory:
                    m_l = m_n = float('nan')
                else:
                    m_l = peak_mb(name, 'ltcls', batch, queue_len,
                                  args.threads)
                    m_n = peak_mb(name, 'naive', batch, queue_len,
                                  args.threads)
                mem_ratio = m_n / m_l if m_l > 0 else float('nan')
                row = (name, batch, queue_len, f'{t_l * 1e3:.1f}',
                       f'{t_n * 1e3:.1f}', f'{t_n / t_l:.1f}x', f'{m_l:.1f}',
                       f'{m_n:.1f}', f'{mem_ratio:.2f}x', diff)
                print(
                    '| ' + ' | '.join(str(v) for v in row) + ' |', flush=True)


if __name__ == '__main__':
    main()
