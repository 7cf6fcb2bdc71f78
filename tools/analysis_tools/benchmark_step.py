# Copyright (c) ltcls contributors. All rights reserved.
"""One training step of every method against a CE step, same backbone and
batch, measured in the same run.

Methods: ``ce``, ``bs`` (Balanced Softmax), ``kcl``, ``fcl``, ``sbcl``
(in-batch), ``sbcl-moco`` (MoCo / queue path), ``hybrid-sc``,
``hybrid-psc``, ``rescom``, ``paco``, ``gpaco``. For every method the script
builds the model (ltcls configs' structure: backbone -> GAP -> linear head;
the contrastive methods add their projector, queue and, for KCL / FCL /
SBCL-MoCo / PaCo, the momentum encoder), an SGD optimizer, and times a full
training step (forward of ``model.loss``, backward, ``optimizer.step``) on
random images with ImageNet-LT-like labels (best of ``--repeat`` after a
warm-up step). It also times the method-specific parts on their own:

* ``key encoder``: EMA update + momentum-encoder forward of the key view
  (no grad), the extra key-encoder forward of the MoCo-style methods;
* ``loss+queue``: the contrastive loss (PaCo / GPaCo: centers + in-batch
  bank + queue; ResCom: SiamBS + hard-pair mining + class-balanced SPM;
  KCL / FCL / SBCL-MoCo: the 1 + K logits of the queue; SBCL, Hybrid: the
  in-batch / prototype loss) forward and backward on leaf features of the
  real shapes, plus the enqueue (and the queue clone the algorithms make)
  -- what the loss, queue and mining themselves cost.

Ratios are against the CE step of the same run. The expected ratios from
FLOPs are ~1.33 for the momentum-encoder methods (an extra forward of the
encoder, no backward: spec_paco.md §2.8) and ~2 for the two-view methods
trained end to end (ResCom, SBCL, GPaCo; Hybrid: 3 batches, spec_rescom.md
§2.9); the loss/queue/mining share should be a few percent.

Peak memory: measured in a second fresh process per method (timings in
the first); ``peak MB`` is the process peak RSS (VmHWM) during one step
after a warm-up step (model, EMA copy, queue, optimizer state, activations,
plus the ~1 GB of the imported libraries), ``step MB`` the peak RSS of the
step minus the RSS right before it, i.e. activations and gradients (CPU has
no allocator statistics; glibc's mmap threshold is fixed at 64 kB in that
process so that freed buffers leave the RSS).

Example (the defaults: CPU-sized, ResNet-18 at 64 px, batch 16, ImageNet-LT
queues; one thread and the CPU clock give stable ratios on a shared host)::

    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_step.py \\
        --repeat 3 --rounds 2
    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_step.py \\
        --depth 50 --img-size 112 --batch 8 --methods paco rescom
"""
import argparse
import multiprocessing as mp
import os
import queue
import time

import torch

METHODS = ('ce', 'bs', 'kcl', 'fcl', 'sbcl', 'sbcl-moco', 'hybrid-sc',
           'hybrid-psc', 'rescom', 'paco', 'gpaco')
# kept for tools/analysis_tools/benchmark_gpu_step.py (a subset of METHODS)
EXTRA_METHODS = ('sbcl', 'hybrid-sc')
#: methods with a momentum (key) encoder
MOMENTUM = ('kcl', 'fcl', 'sbcl-moco', 'paco')


def _cuda_clock():
    """Wall clock after the device finished the queued work."""
    torch.cuda.synchronize()
    return time.perf_counter()


CLOCKS = dict(cpu=time.process_time, wall=time.perf_counter, cuda=_cuda_clock)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        '--methods', nargs='+', default=list(METHODS), choices=METHODS)
    p.add_argument(
        '--depth', type=int, default=18, help='mmpretrain ResNet depth')
    p.add_argument('--img-size', type=int, default=64)
    p.add_argument('--batch', type=int, default=16, help='per-GPU batch')
    p.add_argument('--num-classes', type=int, default=1000)
    p.add_argument('--feat-dim', type=int, default=128)
    p.add_argument('--paco-queue', type=int, default=8192)
    p.add_argument(
        '--moco-queue',
        type=int,
        default=65536,
        help='KCL / FCL / SBCL-MoCo queue length')
    p.add_argument(
        '--rescom-q', type=int, default=8, help='ResCom keys per class')
    p.add_argument(
        '--rescom-num-neg',
        type=int,
        default=None,
        help='Q_n; default 0.4 (K - 1) Q')
    p.add_argument('--repeat', type=int, default=3)
    p.add_argument(
        '--clock',
        choices=tuple(CLOCKS),
        default='cpu',
        help='cpu: process CPU time of all threads (robust to other load '
        'on a shared host; use with 1 thread, spinning OpenMP threads '
        'inflate it); wall: wall-clock time')
    p.add_argument(
        '--rounds',
        type=int,
        default=2,
        help='interleaved rounds over the methods (fresh process each); '
        'the best round counts, which damps load changes on shared hosts')
    p.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch threads (default: OMP_NUM_THREADS or 1)')
    return p.parse_args(argv)


def _lt_counts(num_classes):
    try:
        from ltcls.datasets.long_tail import long_tail_counts
    except ModuleNotFoundError:
        # mmcv lite (no compiled ops, the GPU check's install): the
        # ltcls.datasets package imports mmdet.datasets (ClassAwareSampler),
        # which imports mmcv.ops; long_tail.py itself needs only numpy
        import importlib.util
        path = os.path.join(
            os.path.dirname(os.path.abspath(__file__)), '..', '..', 'ltcls',
            'datasets', 'long_tail.py')
        spec = importlib.util.spec_from_file_location('_long_tail', path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        long_tail_counts = mod.long_tail_counts
    return long_tail_counts(1280, num_classes, 256)


def _model_cfg(method, args):
    d = 512 if args.depth < 50 else 2048
    backbone = dict(
        type='ResNet',
        depth=args.depth,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch')
    head = dict(
        type='LinearClsHead', num_classes=args.num_classes, in_channels=d)
    if method in ('ce', 'bs'):
        if method == 'bs':
            head = dict(head, loss=dict(type='ltcls.BalancedSoftmaxLoss'))
        return dict(
            type='ImageClassifier',
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            head=head)
    if method in ('kcl', 'fcl'):  # MoCo v1: one linear projection
        return dict(
            type='KCL',
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            projector=dict(
                type='ProjectionMLP',
                in_channels=d,
                out_channels=args.feat_dim,
                num_layers=1),
            queue_len=args.moco_queue,
            feat_dim=args.feat_dim,
            loss=dict(
                type='KCLLoss',
                pos_k=6 if method == 'kcl' else None,
                temperature=0.07,
                pos_selection='random',
                variant='v1',
                seed=0))
    if method == 'sbcl-moco':
        return dict(
            type='MoCoSBCL',
            num_classes=args.num_classes,
            num_train_samples=args.batch,
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            projector=dict(
                type='ProjectionMLP',
                in_channels=d,
                hid_channels=d,
                out_channels=args.feat_dim,
                num_layers=2),
            queue_len=args.moco_queue,
            feat_dim=args.feat_dim)
    projector = dict(
        type='ProjectionMLP',
        in_channels=d,
        hid_channels=d,
        out_channels=args.feat_dim,
        norm_cfg=dict(type='BN1d'))
    if method == 'sbcl':  # in-batch SBCL (both views, online encoder)
        return dict(
            type='SBCL',
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            projector=projector,
            num_classes=args.num_classes,
            num_train_samples=args.batch)
    if method == 'hybrid-psc':
        return dict(
            type='HybridPSC',
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            projector=projector,
            loss=dict(type='PSCLoss', temperature=0.1),
            head=head)
    if method == 'gpaco':  # PaCo without momentum encoder, both views
        return dict(
            type='PaCo',
            backbone=backbone,
            projector=dict(projector, num_layers=3, norm_cfg=None),
            head=head,
            queue_len=args.paco_queue,
            feat_dim=args.feat_dim,
            queue_init='random',
            momentum=None,
            anchor_views='both',
            loss=dict(type='PaCoLoss', alpha=0.045, temperature=0.2))
    if method == 'hybrid-sc':
        return dict(
            type='HybridSC',
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            projector=projector,
            loss=dict(type='SupConLoss', temperature=0.1),
            head=head)
    if method == 'paco':
        return dict(
            type='PaCo',
            backbone=backbone,
            projector=projector,
            head=head,
            queue_len=args.paco_queue,
            feat_dim=args.feat_dim,
            queue_init='random',
            loss=dict(type='PaCoLoss', alpha=0.05, temperature=0.2))
    q = args.rescom_q
    num_neg = args.rescom_num_neg or int(0.4 * (args.num_classes - 1) * q)
    return dict(
        type='ResCom',
        backbone=backbone,
        projector=projector,
        head=head,
        queue_size_per_cls=q,
        feat_dim=args.feat_dim,
        loss=dict(
            type='ResComLoss',
            num_pos=1,
            num_neg=num_neg,
            effective_num_beta=0.99))


def _status_kb(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise OSError(key)


def _best(fn, repeat, clock='cpu'):
    fn()  # warm-up (lazy init, allocator)
    clock = CLOCKS[clock]
    times = []
    for _ in range(repeat):
        t = clock()
        fn()
        times.append(clock() - t)
    return min(times) * 1000.0


def make_step(method, args, device='cpu', amp_dtype=None):
    """Build ``method``'s model (on ``device``), an SGD optimizer and a
    batch of random images with long-tailed labels; return a dict with
    ``step`` (one training step: ``model.loss``, backward,
    ``optimizer.step``, under ``torch.autocast`` with ``amp_dtype`` if
    given, with a gradient scaler for float16) and ``loss_queue`` (the
    method's contrastive loss forward + backward on leaf features of the
    real shapes plus its queue write, or None for CE), and the pieces."""
    from mmpretrain.structures import DataSample

    import ltcls  # noqa: F401
    from ltcls.registry import MODELS
    torch.manual_seed(0)
    device = torch.device(device)
    model = MODELS.build(_model_cfg(method, args)).to(device)
    model.train()
    counts = _lt_counts(args.num_classes)
    for m in model.modules():
        if callable(getattr(m, 'set_class_counts', None)):
            m.set_class_counts(counts)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                          lr=0.01,
                          momentum=0.9,
                          weight_decay=1e-4)
    g = torch.Generator().manual_seed(1)
    b, s = args.batch, args.img_size
    labels = torch.multinomial(
        torch.tensor(counts, dtype=torch.float),
        b,
        replacement=True,
        generator=g)
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    views = [torch.randn(b, 3, s, s, generator=g) for _ in range(2)]
    if method in ('hybrid-sc', 'hybrid-psc'):  # 2 views + classifier batch
        views.append(torch.randn(b, 3, s, s, generator=g))
        for smp, y in zip(samples, labels):
            smp.set_field(torch.tensor([int(y)]), 'cls_gt_label')
    if method in ('sbcl', 'sbcl-moco'):  # SBCL path: 2 subclasses / class
        for i, smp in enumerate(samples):
            smp.set_metainfo(dict(sample_idx=i))
        model.set_subclasses(labels * 2 + torch.arange(b) % 2,
                             torch.full((args.num_classes, ), 0.1))
    labels = labels.to(device)
    samples = [smp.to(device) for smp in samples]
    views = [v.to(device) for v in views]
    inputs = views[0] if method in ('ce', 'bs') else views
    dev_type = device.type

    def autocast():
        return torch.autocast(
            dev_type, dtype=amp_dtype, enabled=amp_dtype is not None)

    scaler = torch.amp.GradScaler(
        dev_type, enabled=amp_dtype == torch.float16)

    def step():
        with autocast():
            losses = model.loss(inputs, samples)
            loss = sum(v for k, v in losses.items() if 'loss' in k)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    n, d = args.num_classes, args.feat_dim
    feat_dtype = amp_dtype or torch.float32

    def leaf(*shape, unit=False):
        x = torch.randn(*shape, generator=g)
        if unit:
            x = torch.nn.functional.normalize(x, dim=-1)
        return x.to(device, feat_dtype).requires_grad_()

    loss_queue = None
    if method == 'paco':
        logits, q = leaf(b, n), leaf(b, d, unit=True)
        k = leaf(b, d, unit=True).detach()

        def loss_queue():
            with autocast():
                qk, ql = model.queue.snapshot()[:2]
                loss = model.loss_module(
                    logits, q, labels, k, labels, qk, ql, num_samples=b)
            loss.backward()
            model.queue.enqueue(k, labels)
    elif method == 'gpaco':
        logits, z = leaf(2 * b, n), leaf(2 * b, d, unit=True)

        def loss_queue():
            with autocast():
                qk, ql = model.queue.snapshot()[:2]
                loss = model.loss_module(
                    logits, z, labels.repeat(2), None, None, qk, ql,
                    num_samples=b)
            loss.backward()
            model.queue.enqueue(z[b:].detach(), labels)
    elif method in ('kcl', 'fcl'):
        q = leaf(b, d, unit=True)
        k = leaf(b, d, unit=True).detach()

        def loss_queue():
            with autocast():
                qk, ql = model.queue.snapshot()[:2]
                loss = model.loss_module(q, k, labels, qk, ql, step=1)
            loss.backward()
            model.queue.enqueue(k, labels)
    elif method == 'sbcl-moco':
        q = leaf(b, d, unit=True)
        k = leaf(b, d, unit=True).detach()
        sub = model.subclass_labels[:b].to(device)

        def loss_queue():
            with autocast():
                qk, qc, qs = model.queue_state()
                loss = model.loss_module(q, k, labels, sub, qk, qc, qs,
                                         model.class_tau2)
            loss.backward()
            model._enqueue(k, labels, sub)
    elif method == 'rescom':
        logits, z = leaf(2 * b, n), leaf(2 * b, d, unit=True)

        def loss_queue():
            with autocast():
                qk, ql = model.queue.snapshot()[:2]
                out = model.loss_module(logits, z, labels, qk, ql)
            sum(out.values()).backward()
            model.queue.enqueue(z[:b].detach(), labels)
    elif method == 'sbcl':
        z = leaf(b, 2, d, unit=True)
        sub = model.subclass_labels[:b].to(device)

        def loss_queue():
            with autocast():
                loss = model.loss_module(z, labels, sub, model.class_tau2)
            loss.backward()
    elif method in ('hybrid-sc', 'hybrid-psc'):
        z = leaf(2 * b, d, unit=True)

        def loss_queue():
            with autocast():
                loss = model.loss_module(z, labels.repeat(2))
            loss.backward()
    return dict(
        model=model,
        opt=opt,
        step=step,
        loss_queue=loss_queue,
        labels=labels,
        samples=samples,
        views=views)


def _worker(method, args, mode, out):
    torch.set_num_threads(args.threads)
    made = make_step(method, args)
    model, step, views = made['model'], made['step'], made['views']

    res = dict(method=method)
    if mode == 'mem':
        step()  # lazy initialisation and optimizer state outside the peak
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # reset VmHWM to the current RSS
            base = _status_kb('VmRSS')
            step()
            peak = _status_kb('VmHWM')
            res['peak_mb'] = peak / 1024.0
            res['step_mb'] = (peak - base) / 1024.0
        except OSError:
            res['peak_mb'] = res['step_mb'] = float('nan')
        out.put(res)
        return
    res['step_ms'] = _best(step, args.repeat, args.clock)

    if method in MOMENTUM:
        res['key_ms'] = _best(
            lambda: model.momentum_keys(views[1], update=True), args.repeat,
            args.clock)
    if made['loss_queue'] is not None:
        res['loss_ms'] = _best(made['loss_queue'], args.repeat, args.clock)

    out.put(res)


def _spawn(method, args, mode):
    ctx = mp.get_context('spawn')
    out = ctx.Queue()
    p = ctx.Process(target=_worker, args=(method, args, mode, out))
    p.start()
    while True:  # a worker that dies must not hang the run
        try:
            res = out.get(timeout=5)
            break
        except queue.Empty:
            if not p.is_alive():
                raise RuntimeError(f'{method} ({mode}) worker died, exit '
                                   f'code {p.exitcode}')
    p.join()
    return res


def run_mem(method, args):
    """Peak memory in a fresh process with glibc's mmap threshold fixed
    at 64 kB so freed buffers leave the RSS (that setting slows allocations
    down, so the timings run without it)."""
    old = os.environ.get('MALLOC_MMAP_THRESHOLD_')
    os.environ['MALLOC_MMAP_THRESHOLD_'] = str(64 * 1024)
    try:
        res = _spawn(method, args, 'mem')
    finally:
        if old is None:
            del os.environ['MALLOC_MMAP_THRESHOLD_']
        else:
            os.environ['MALLOC_MMAP_THRESHOLD_'] = old
    return res


def main(argv=None):
    args = parse_args(argv)
    if args.threads is None:
        args.threads = int(os.environ.get('OMP_NUM_THREADS', 1))
    methods = list(args.methods)
    if 'ce' not in methods:
        methods.insert(0, 'ce')
    print(f'ResNet-{args.depth}, {args.img_size}px, batch {args.batch}, '
          f'{args.num_classes} classes, dim {args.feat_dim}, PaCo queue '
          f'{args.paco_queue}, MoCo queue {args.moco_queue}, ResCom '
          f'{args.rescom_q} keys/class, '
          f'{args.threads} threads, {args.clock} clock, best of '
          f'{args.repeat} steps x '
          f'{args.rounds} rounds')
    results = {}
    for _ in range(max(args.rounds, 1)):
        for m in methods:
            res = _spawn(m, args, 'time')
            best = results.setdefault(m, res)
            for k in ('step_ms', 'key_ms', 'loss_ms'):
                if k in res:
                    best[k] = min(best[k], res[k])
    for m in methods:
        results[m].update(run_mem(m, args))
    ce = results['ce']['step_ms']
    header = ('method', 'step ms', 'step / CE', 'key enc. ms (% step)',
              'loss+queue ms (% step)', 'peak MB', 'step MB')
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    for m in methods:
        r = results[m]
        key, los = (f"{r[k]:.1f} ({100 * r[k] / r['step_ms']:.1f}%)"
                    if k in r else '-' for k in ('key_ms', 'loss_ms'))
        print(f"| {m} | {r['step_ms']:.1f} | {r['step_ms'] / ce:.2f} | {key} "
              f"| {los} | {r['peak_mb']:.0f} | {r['step_mb']:.0f} |")
    return results


if __name__ == '__main__':
    main()
