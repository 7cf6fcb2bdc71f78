# Copyright (c) ltcls contributors. All rights reserved.
"""The accelerator check of ltcls: losses on the device equal the CPU, and
the step-time table of CE, PaCo, ResCom, SBCL and Hybrid-SC.

Two parts (run by ``tools/analysis_tools/gpu_check.sh``):

1. ``losses``: every ltcls loss (``ltcls.testing_device.loss_cases``) in
   float64 on CPU and on ``--device`` with the same inputs; the loss and the
   input gradients must agree (``--loss-rtol``, default 1e-9: the two
   differ only by summation order), and the host syncs of one forward +
   backward (module build included) are counted (``HostSyncCounter``).
2. ``steps``: ``--steps`` training steps (forward of ``model.loss``,
   backward, SGD step, under AMP) of each method on ResNet-``--depth`` at
   ``--size`` px, batch ``--batch``, random images with long-tailed labels
   (``tools/analysis_tools/benchmark_step.py``'s models and step). Reported:
   the median step time over the steps after ``--warmup``, images/s (batch
   samples per second; a two-view method still counts a sample once),
   peak device memory (``torch.cuda.max_memory_allocated``; n/a on CPU),
   the ratio to the CE step, the loss + queue + mining share (the method's
   contrastive loss forward + backward on leaf features of the real shapes
   plus its queue write, best of ``--repeat``, over the step time) and the
   host syncs of one step (all of them, mmengine's included).

Every step's loss must be finite; the exit status is 1 otherwise or if a
loss differs between the devices.

GPU (what gpu_check.sh runs)::

    python tools/analysis_tools/benchmark_gpu_step.py --device cuda

CPU smoke run (CI; proves the script except for CUDA itself)::

    python tools/analysis_tools/benchmark_gpu_step.py --device cpu \\
        --steps 2 --warmup 1 --size 32 --batch 4 --depth 18 \\
        --num-classes 10 --paco-queue 64 --rescom-q 2
"""
import argparse
import gc
import json
import os.path as osp
import statistics
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import benchmark_step as bs  # noqa: E402  (make_step, _best, CLOCKS)

METHODS = ('ce', 'paco', 'rescom', 'sbcl', 'hybrid-sc')
AMP = dict(fp16=torch.float16, bf16=torch.bfloat16, none=None)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cuda')
    p.add_argument('--parts', nargs='+', default=['losses', 'steps'],
                   choices=('losses', 'steps'))
    p.add_argument('--methods', nargs='+', default=list(METHODS),
                   choices=METHODS)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3,
                   help='first steps left out of the median')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--depth', type=int, default=50)
    p.add_argument('--num-classes', type=int, default=1000)
    p.add_argument('--feat-dim', type=int, default=128)
    p.add_argument('--paco-queue', type=int, default=8192)
    p.add_argument('--rescom-q', type=int, default=8)
    p.add_argument('--rescom-num-neg', type=int, default=None)
    p.add_argument('--amp', choices=tuple(AMP), default=None,
                   help='default fp16 (with a gradient scaler, what '
                   "mmengine's AmpOptimWrapper does) on CUDA, bf16 on CPU")
    p.add_argument('--repeat', type=int, default=5,
                   help='loss + queue timing: best of N')
    p.add_argument('--loss-rtol', type=float, default=1e-9)
    p.add_argument('--json-out', default=None)
    a = p.parse_args(argv)
    if a.amp is None:
        a.amp = 'fp16' if a.device.startswith('cuda') else 'bf16'
    if a.steps <= a.warmup:
        p.error(f'--steps {a.steps} must exceed --warmup {a.warmup}')
    return a


def check_losses(device, rtol):
    """Part 1; returns (rows, ok)."""
    from ltcls.testing_device import (HostSyncCounter, loss_cases,
                                      run_loss_case)
    rows, ok = [], True
    for name, make in loss_cases().items():
        ref, ref_grads = run_loss_case(make, 'cpu')
        with HostSyncCounter() as sync:
            out, grads = run_loss_case(make, device)
        d_loss = (out.cpu() - ref).abs().item()
        d_grad = max((g.cpu() - r).abs().max().item()
                     for g, r in zip(grads, ref_grads))
        scale = max(ref.abs().item(),
                    max(r.abs().max().item() for r in ref_grads), 1e-30)
        good = bool(torch.isfinite(out).all()) and \
            max(d_loss, d_grad) <= rtol * scale
        ok &= good
        rows.append(dict(loss=name, value=ref.item(), d_loss=d_loss,
                         d_grad=d_grad, syncs=sync.count,
                         sync_ops=sorted(set(sync.ops)), ok=good))
    return rows, ok


def time_method(method, a, device, clock):
    """Part 2 for one method: a result dict."""
    from ltcls.testing_device import HostSyncCounter
    ns = argparse.Namespace(
        depth=a.depth, img_size=a.size, batch=a.batch,
        num_classes=a.num_classes, feat_dim=a.feat_dim,
        paco_queue=a.paco_queue, rescom_q=a.rescom_q,
        rescom_num_neg=a.rescom_num_neg)
    cuda = device.type == 'cuda'
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    made = bs.make_step(method, ns, device, AMP[a.amp])
    times, finite = [], True
    for _ in range(a.steps):
        t = clock()
        loss = made['step']()
        times.append(clock() - t)
        finite &= bool(torch.isfinite(loss.detach()).all())
    step_ms = 1000.0 * statistics.median(times[a.warmup:])
    res = dict(method=method, step_ms=step_ms,
               images_s=a.batch / (step_ms / 1000.0), finite=finite,
               peak_mb=(torch.cuda.max_memory_allocated(device) / 2**20
                        if cuda else None))
    with HostSyncCounter() as sync:
        made['step']()
    res['syncs'] = sync.count
    res['sync_ops'] = sorted(set(sync.ops))
    if made['loss_queue'] is not None:
        res['loss_ms'] = bs._best(made['loss_queue'], a.repeat, 'cuda'
                                  if cuda else 'wall')
    del made
    gc.collect()
    return res


def main(argv=None):
    a = parse_args(argv)
    device = torch.device(a.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('benchmark_gpu_step: --device cuda but torch '
                         f'{torch.__version__} sees no CUDA device')
    t0 = time.perf_counter()
    out, ok = dict(args=vars(a)), True
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' \
        else 'CPU'
    print(f'torch {torch.__version__}, device {device} ({name})')
    if 'losses' in a.parts:
        rows, good = check_losses(device, a.loss_rtol)
        ok &= good
        out['losses'] = rows
        print(f'\nlosses, float64, {device} vs CPU (max |diff| of the loss '
              f'and of the input gradients; pass: <= {a.loss_rtol:g} x the '
              'largest magnitude)')
        print('| loss | value | loss diff | grad diff | host syncs (build '
              '+ call) | ok |')
        print('|---|---|---|---|---|---|')
        for r in rows:
            ops = f" ({', '.join(r['sync_ops'])})" if r['syncs'] else ''
            print(f"| {r['loss']} | {r['value']:.6f} | {r['d_loss']:.2e} | "
                  f"{r['d_grad']:.2e} | {r['syncs']}{ops} | "
                  f"{'yes' if r['ok'] else 'NO'} |")
    if 'steps' in a.parts:
        clock = bs.CLOCKS['cuda' if device.type == 'cuda' else 'wall']
        methods = list(a.methods)
        if 'ce' not in methods:
            methods.insert(0, 'ce')
        results = [time_method(m, a, device, clock) for m in methods]
        out['steps'] = results
        ce = results[0]['step_ms']
        print(f'\n{a.steps} steps (median after {a.warmup}), ResNet-'
              f'{a.depth}, {a.size} px, batch {a.batch}, {a.num_classes} '
              f'classes, AMP {a.amp}, PaCo queue {a.paco_queue}, ResCom '
              f'{a.rescom_q} keys/class')
        print('| method | step ms | images/s | peak GPU MiB | step / CE | '
              'loss+queue+mining ms (% step) | host syncs / step |')
        print('|---|---|---|---|---|---|---|')
        for r in results:
            ok &= r['finite']
            peak = '-' if r['peak_mb'] is None else f"{r['peak_mb']:.0f}"
            share = (f"{r['loss_ms']:.1f} "
                     f"({100 * r['loss_ms'] / r['step_ms']:.1f}%)"
                     if 'loss_ms' in r else '-')
            print(f"| {r['method']} | {r['step_ms']:.1f} | "
                  f"{r['images_s']:.1f} | {peak} | "
                  f"{r['step_ms'] / ce:.2f} | {share} | {r['syncs']} |"
                  + ('' if r['finite'] else ' NON-FINITE LOSS'))
    out['ok'] = ok
    out['seconds'] = time.perf_counter() - t0
    print(f"\n{'OK' if ok else 'FAILED'} in {out['seconds']:.0f} s")
    if a.json_out:
        with open(a.json_out, 'w') as f:
            json.dump(out, f, indent=1)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
