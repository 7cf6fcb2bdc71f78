# Copyright (c) ltcls contributors. All rights reserved.
"""Run a list of configs x seeds one after another, background-safe, and
tabulate the long-tail accuracies.

The run list is a YAML file (e.g. ``docs/benchmarks/fashion-mnist-lt/
runs.yml``)::

    work_root: /work/bench/fashion-mnist-lt   # --work-root overrides it
    runs:
      - name: ce                    # unique; work dir <work_root>/ce/seed0
        method: CE                  # row label of the table and chart
        config: configs/ce/ce_..._fashion-mnist-lt-if100.py
        seeds: [0, 1, 2]            # default [0]
        readme: configs/ce/README.md  # optional: the method README
      - name: crt
        method: cRT
        config: configs/crt/crt_..._fashion-mnist-lt-if100.py
        after: ce                   # needs run `ce`, same seed, trained
        load_option: model.backbone.init_cfg.checkpoint
      - name: la-posthoc
        method: LA (post-hoc)
        config: configs/logit_adjust/la-posthoc_..._fashion-mnist-lt-if100.py
        after: ce
        test_only: true             # tools/test.py on `ce`'s checkpoint

Jobs are ordered seed first: every run of seed 0 (in list order), then
every run that has seed 1, and so on, so one seed of every method finishes
before the extra seeds start. A job whose ``after`` job failed is skipped
(status ``blocked``).

For every job (work dir ``<work_root>/<name>/seed<s>``):

1. ``result.json`` exists: done, skipped.
2. Train (unless ``test_only``): ``tools/train.py CONFIG --work-dir WD
   --cfg-options randomness.seed=S [LOAD_OPTION=CKPT]``,
   with ``--resume <last checkpoint>`` when the work dir has one (an
   interrupted run continues where it stopped). ``train_done.json`` marks
   the end of training.
3. Evaluate (configs with a ``test_evaluator``): the metrics of the
   validation after the last epoch of the train run (the benchmark configs
   validate once, at ``val_interval = max_epochs``, on the test split),
   read from its ``scalars.json``; when there is none (a ``test_only`` job,
   or a run stopped during that validation) ``tools/test.py CONFIG CKPT
   --out WD/metrics.json``, CKPT the final checkpoint (or the ``after``
   run's for ``test_only``).
4. ``result.json``: metrics, wall time (train process, eval process, and
   seconds per epoch from mmengine's iteration times), peak memory
   (``ru_maxrss`` of each child process, from ``os.wait4``).

After every job ``results.json``, ``results.md`` and ``results.png`` in the
work root are rewritten (atomically), so the runner can be stopped (Ctrl-C,
SIGTERM: the child is stopped too) and started again with the same
command at any time. A resumed training continues from its last epoch
checkpoint; with ltcls's ``ExactResumeHook`` (default runtime: RNG states
in the checkpoint, per-epoch reseeding) it ends bit-identical to an
uninterrupted one (measured: CE, Fashion-MNIST-LT, 6 epochs, interrupted
after epoch 3 and resumed: max abs difference 0.0 over the 116 state-dict
entries, top-1 29.56 both; before that hook: 34.15 vs 32.46).
``result.json`` counts the segments (``train_segments``). The outputs of each child go to ``WD/train.out`` /
``WD/test.out``.

Examples:
    # run (or continue) the benchmark in the background
    nohup python tools/analysis_tools/run_benchmark.py \\
        docs/benchmarks/fashion-mnist-lt/runs.yml > bench.log 2>&1 &
    # only rewrite the table / chart / README sections from the finished
    # jobs, and copy their small logs into the docs
    python tools/analysis_tools/run_benchmark.py \\
        docs/benchmarks/fashion-mnist-lt/runs.yml --report-only \\
        --update-readme --collect-logs docs/benchmarks/fashion-mnist-lt
"""
import argparse
import json
import math
import os
import os.path as osp
import re
import shlex
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SHOT_KEYS = (('overall', 'accuracy/top1'), ('many', 'accuracy/many'),
             ('medium', 'accuracy/medium'), ('few', 'accuracy/few'))
MARK_BEGIN = '<!-- {tag}:begin (tools/analysis_tools/run_benchmark.py) -->'
MARK_END = '<!-- {tag}:end -->'


# ---------------------------------------------------------------- run list
def load_run_list(path: str) -> Dict:
    """Read and check the YAML run list; returns dict(work_root, runs,
    readme_tag, title)."""
    import yaml
    if not osp.isfile(path):
        raise FileNotFoundError(f'run list not found: {path}')
    with open(path) as f:
        spec = yaml.safe_load(f) or {}
    if not isinstance(spec, dict) or not isinstance(spec.get('runs'), list):
        raise ValueError(f'{path}: expected a mapping with a `runs:` list')
    known = {'name', 'method', 'config', 'seeds', 'after', 'load_option',
             'test_only', 'readme', 'cfg_options', 'note'}
    names = {}
    for i, run in enumerate(spec['runs']):
        where = f'{path}: runs[{i}]'
        if not isinstance(run, dict):
            raise ValueError(f'{where}: expected a mapping, got {run!r}')
        extra = set(run) - known
        if extra:
            raise ValueError(f'{where}: unknown key(s) {sorted(extra)}; '
                             f'allowed: {sorted(known)}')
        for key in ('name', 'config'):
            if not isinstance(run.get(key), str) or not run[key]:
                raise ValueError(f'{where}: `{key}` (a string) is required')
        name = run['name']
        if not re.fullmatch(r'[A-Za-z0-9_.+-]+', name):
            raise ValueError(f'{where}: name {name!r} may only use letters, '
                             'digits and _.+-')
        if name in names:
            raise ValueError(f'{where}: duplicate name {name!r}')
        run.setdefault('method', name)
        seeds = run.setdefault('seeds', [0])
        if not isinstance(seeds, list) or not seeds or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0
                for s in seeds):
            raise ValueError(f'{where}: seeds must be a non-empty list of '
                             f'ints >= 0, got {seeds!r}')
        run.setdefault('cfg_options', [])
        if not isinstance(run['cfg_options'], list):
            raise ValueError(f'{where}: cfg_options must be a list of '
                             '"key=value" strings')
        run['test_only'] = bool(run.get('test_only', False))
        after = run.get('after')
        if after is not None:
            if after not in names:
                raise ValueError(f'{where}: after={after!r} must name an '
                                 f'earlier run (known: {sorted(names)})')
            missing = set(seeds) - set(names[after]['seeds'])
            if missing:
                raise ValueError(f'{where}: seeds {sorted(missing)} are not '
                                 f'run by {after!r}')
            if names[after]['test_only']:
                raise ValueError(f'{where}: after={after!r} is test-only and '
                                 'has no checkpoint of its own')
            if not run['test_only'] and not run.get('load_option'):
                raise ValueError(f'{where}: a trained run with `after` needs '
                                 '`load_option` (the config key that takes '
                                 'the checkpoint)')
        elif run['test_only']:
            raise ValueError(f'{where}: test_only needs `after` (the run '
                             'whose checkpoint is tested)')
        names[name] = run
    return dict(
        work_root=spec.get('work_root'),
        runs=spec['runs'],
        title=spec.get('title', 'Benchmark'),
        readme_tag=spec.get('readme_tag', 'benchmark-results'),
        command=spec.get('command'))


def expand_jobs(runs: List[Dict]) -> List[Dict]:
    """(run, seed) jobs, seed-major: all seed-0 runs first, in list order."""
    seeds = sorted({s for r in runs for s in r['seeds']})
    return [
        dict(run=r, seed=s, key=f"{r['name']}/seed{s}") for s in seeds
        for r in runs if s in r['seeds']
    ]


# ---------------------------------------------------------------- helpers
def atomic_write(path: str, text: str, mode: str = 'w') -> None:
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, mode) as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: str) -> Optional[dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint named by mmengine's ``last_checkpoint`` file, if it
    exists."""
    marker = osp.join(work_dir, 'last_checkpoint')
    try:
        with open(marker) as f:
            path = f.read().strip()
    except OSError:
        return None
    if path and not osp.isabs(path):
        path = osp.join(work_dir, osp.basename(path))
    return path if path and osp.isfile(path) else None


def checkpoint_epoch(path: Optional[str]) -> int:
    m = re.search(r'epoch_(\d+)\.pth$', path or '')
    return int(m.group(1)) if m else 0


class Interrupted(KeyboardInterrupt):
    """The runner was stopped while a child ran; ``args[0]`` is the
    child's dict(rc, wall_s, maxrss_mb)."""


class Child:
    """The running child process (so a signal can stop it too)."""
    proc: Optional[subprocess.Popen] = None


def run_child(cmd: List[str], log_path: str, env: dict) -> Dict:
    """Run ``cmd`` with stdout+stderr appended to ``log_path``; returns
    dict(rc, wall_s, maxrss_mb) (``ru_maxrss`` of that child via
    ``os.wait4``, KiB on Linux)."""
    start = time.time()
    with open(log_path, 'a') as log:
        log.write(f'\n$ {" ".join(shlex.quote(c) for c in cmd)}\n')
        log.flush()
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        Child.proc = proc
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except KeyboardInterrupt:
            # stopped (Ctrl-C / SIGTERM): stop and reap the child, and
            # hand its wall time and memory to the caller's record
            if proc.poll() is None:
                proc.terminate()
            _, status, usage = os.wait4(proc.pid, 0)
            raise Interrupted(
                dict(rc=os.waitstatus_to_exitcode(status),
                     wall_s=time.time() - start,
                     maxrss_mb=usage.ru_maxrss / 1024.0)) from None
        finally:
            Child.proc = None
        proc.returncode = os.waitstatus_to_exitcode(status)
    return dict(
        rc=proc.returncode,
        wall_s=time.time() - start,
        maxrss_mb=usage.ru_maxrss / 1024.0)


def config_info(config: str, cfg_options=()) -> Dict:
    """max_epochs and whether the config (with the run's ``cfg_options``,
    as tools/train.py applies them) evaluates (test_evaluator)."""
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(osp.join(REPO, config))
    if cfg_options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--o', *cfg_options]).o)
    train_cfg = cfg.get('train_cfg') or {}
    return dict(
        max_epochs=train_cfg.get('max_epochs'),
        evaluates=bool(cfg.get('test_evaluator'))
        and bool(cfg.get('test_dataloader')))


def scalar_records(work_dir: str) -> List[dict]:
    """Every record of the ``<timestamp>/vis_data/scalars.json`` files of
    mmengine's LocalVisBackend in ``work_dir`` (all segments of a resumed
    run, oldest first)."""
    import glob
    out = []
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass  # a line cut by an interruption
    return out


def final_val_metrics(work_dir: str, max_epochs: Optional[int]):
    """The metrics of the validation after epoch ``max_epochs`` (the last
    ``accuracy/top1`` record with that step), or None."""
    found = None
    for rec in scalar_records(work_dir):
        if 'accuracy/top1' in rec and 'loss' not in rec and (
                max_epochs is None or rec.get('step') == max_epochs):
            found = {k: v for k, v in rec.items() if '/' in k}
    return found


def epoch_time_s(work_dir: str) -> Optional[float]:
    """Seconds per training epoch: mmengine's mean iteration time (the
    ``time`` of the logged training records: data + step) times the
    iterations per epoch; process start-up and evaluation excluded."""
    train = [r for r in scalar_records(work_dir)
             if 'loss' in r and 'time' in r and 'epoch' in r]
    if not train:
        return None
    last = train[-1]
    iters_per_epoch = last['iter'] / last['epoch']
    # the window of the last logged record may reach into the next epoch
    iters_per_epoch = max(1.0, round(iters_per_epoch))
    mean = sum(r['time'] for r in train) / len(train)
    return mean * iters_per_epoch


# ---------------------------------------------------------------- one job
def job_dir(work_root: str, job: Dict) -> str:
    return osp.join(work_root, job['run']['name'], f"seed{job['seed']}")


def run_job(job: Dict, work_root: str, python: str, env: dict,
            log=print) -> Dict:
    """Train and/or test one (run, seed); returns its result record (also
    written to ``WD/result.json``). Raises nothing for a failed child: the
    record has ``status='failed'`` and the reason."""
    run, seed = job['run'], job['seed']
    wd = job_dir(work_root, job)
    os.makedirs(wd, exist_ok=True)
    done = read_json(osp.join(wd, 'result.json'))
    if done is not None and done.get('status') == 'done':
        return done
    info = config_info(run['config'], run['cfg_options'])
    rec = dict(
        name=run['name'], method=run['method'], seed=seed,
        config=run['config'], work_dir=wd, status='running',
        max_epochs=info['max_epochs'])
    state_path = osp.join(wd, 'bench_state.json')
    state = read_json(state_path) or dict(segments=[])

    ckpt = None
    dep_ckpt = None
    if run.get('after'):
        dep = read_json(
            osp.join(work_root, run['after'], f'seed{seed}',
                     'train_done.json'))
        if dep is None or not osp.isfile(dep.get('checkpoint', '')):
            rec.update(status='blocked',
                       reason=f"run {run['after']!r} seed {seed} has no "
                       'finished checkpoint')
            return rec
        dep_ckpt = dep['checkpoint']

    if run['test_only']:
        ckpt = dep_ckpt
    else:
        train_done = read_json(osp.join(wd, 'train_done.json'))
        if train_done is not None and osp.isfile(
                train_done.get('checkpoint', '')):
            ckpt = train_done['checkpoint']
        else:
            cmd = [python, 'tools/train.py', run['config'], '--work-dir', wd]
            resume = last_checkpoint(wd)
            if resume:
                cmd += ['--resume', resume]
                log(f"  resuming {job['key']} from {osp.basename(resume)}")
            opts = [f'randomness.seed={seed}'] + list(run['cfg_options'])
            if dep_ckpt:
                opts.append(f"{run['load_option']}={dep_ckpt}")
            cmd += ['--cfg-options'] + opts
            start_epoch = checkpoint_epoch(resume)
            try:
                res = run_child(cmd, osp.join(wd, 'train.out'), env)
            except Interrupted as e:
                # keep the interrupted segment (its epochs and wall time)
                state['segments'].append(
                    dict(start_epoch=start_epoch,
                         end_epoch=checkpoint_epoch(last_checkpoint(wd)),
                         interrupted=True, **e.args[0]))
                atomic_write(state_path, json.dumps(state, indent=1))
                raise
            end = last_checkpoint(wd)
            state['segments'].append(
                dict(start_epoch=start_epoch, end_epoch=checkpoint_epoch(end),
                     **res))
            atomic_write(state_path, json.dumps(state, indent=1))
            if res['rc'] != 0:
                rec.update(status='failed',
                           reason=f"tools/train.py exited {res['rc']} (see "
                           f"{osp.join(wd, 'train.out')})")
                return rec
            if end is None:
                rec.update(status='failed',
                           reason='training ended without a checkpoint')
                return rec
            if info['max_epochs'] and checkpoint_epoch(end) != \
                    info['max_epochs']:
                rec.update(status='failed',
                           reason=f'last checkpoint {end} is not epoch '
                           f"{info['max_epochs']}")
                return rec
            ckpt = end
            atomic_write(
                osp.join(wd, 'train_done.json'),
                json.dumps(dict(checkpoint=ckpt), indent=1))
    segs = state['segments']
    if segs:
        wall = sum(s['wall_s'] for s in segs)
        epochs = sum(max(0, s['end_epoch'] - s['start_epoch']) for s in segs)
        rec.update(
            train_wall_s=wall,
            train_epochs=epochs,
            # start-up and evaluation excluded (see epoch_time_s)
            wall_per_epoch_s=epoch_time_s(wd),
            train_maxrss_mb=max(s['maxrss_mb'] for s in segs),
            train_segments=len(segs))

    metrics = None
    if info['evaluates']:
        out = osp.join(wd, 'metrics.json')
        metrics = read_json(out)
        if metrics is None and not run['test_only']:
            # the validation after the last epoch (val_interval =
            # max_epochs) saves a tools/test.py start-up per job
            metrics = final_val_metrics(wd, info['max_epochs'])
            if metrics is not None:
                atomic_write(out, json.dumps(metrics, indent=1))
                state['eval_source'] = 'final val of the train run'
                atomic_write(state_path, json.dumps(state, indent=1))
        if metrics is None:
            cmd = [python, 'tools/test.py', run['config'], ckpt,
                   '--work-dir', osp.join(wd, 'test'), '--out-metrics', out]
            res = run_child(cmd, osp.join(wd, 'test.out'), env)
            state['eval'] = res
            state['eval_source'] = 'tools/test.py'
            atomic_write(state_path, json.dumps(state, indent=1))
            metrics = read_json(out)
            if res['rc'] != 0 or metrics is None:
                rec.update(status='failed',
                           reason=f"tools/test.py exited {res['rc']} (see "
                           f"{osp.join(wd, 'test.out')})")
                return rec
        if 'eval' in state:
            rec.update(eval_wall_s=state['eval']['wall_s'],
                       eval_maxrss_mb=state['eval']['maxrss_mb'])
        rec['eval_source'] = state.get('eval_source')
        rec['metrics'] = {
            short: metrics.get(key) for short, key in SHOT_KEYS
        }
    rec.update(status='done', checkpoint=ckpt)
    atomic_write(osp.join(wd, 'result.json'), json.dumps(rec, indent=1))
    return rec


# ---------------------------------------------------------------- reports
def collect(jobs: List[Dict], work_root: str) -> List[Dict]:
    """The result record of every job (``not run`` where none exists)."""
    out = []
    for job in jobs:
        rec = read_json(osp.join(job_dir(work_root, job), 'result.json'))
        if rec is None:
            rec = dict(
                name=job['run']['name'], method=job['run']['method'],
                seed=job['seed'], config=job['run']['config'],
                status='not run')
        out.append(rec)
    return out


def _mean_std(values: List[float]):
    n = len(values)
    if n == 0:
        return None, None
    mean = sum(values) / n
    if n == 1:
        return mean, None
    var = sum((v - mean)**2 for v in values) / (n - 1)
    return mean, math.sqrt(var)


def summarize(records: List[Dict], runs: List[Dict]) -> List[Dict]:
    """One row per run with metrics: mean (and sample std over seeds) of
    each accuracy, seeds done / planned, wall time and memory."""
    rows = []
    for run in runs:
        recs = [r for r in records if r['name'] == run['name']]
        done = [r for r in recs if r.get('status') == 'done']
        if not any('metrics' in r for r in done) and done:
            continue  # a stage-1 run without evaluation
        if not done and not config_evaluates_cached(run):
            continue
        row = dict(name=run['name'], method=run['method'],
                   config=run['config'], seeds_planned=len(run['seeds']),
                   seeds_done=[r['seed'] for r in done])
        for short, _ in SHOT_KEYS:
            vals = [r['metrics'][short] for r in done
                    if r.get('metrics', {}).get(short) is not None]
            row[short] = _mean_std(vals)
        walls = [r['wall_per_epoch_s'] for r in done
                 if r.get('wall_per_epoch_s')]
        row['wall_per_epoch_s'] = _mean_std(walls)[0]
        totals = [r.get('train_wall_s', 0) + r.get('eval_wall_s', 0)
                  for r in done]
        row['wall_per_seed_s'] = _mean_std(totals)[0]
        mems = [max(r.get('train_maxrss_mb', 0), r.get('eval_maxrss_mb', 0))
                for r in done]
        row['peak_rss_mb'] = max(mems) if mems else None
        rows.append(row)
    return rows


_EVALUATES = {}


def config_evaluates_cached(run: Dict) -> bool:
    key = (run['config'], tuple(run['cfg_options']))
    if key not in _EVALUATES:
        try:
            _EVALUATES[key] = config_info(*key)['evaluates']
        except Exception:  # unreadable config: show the row as not run
            _EVALUATES[key] = True
    return _EVALUATES[key]


def _fmt(ms) -> str:
    mean, std = ms
    if mean is None:
        return 'not run'
    return f'{mean:.2f}' if std is None else f'{mean:.2f} ± {std:.2f}'


def markdown_table(rows: List[Dict], runs: Optional[List[str]] = None,
                   link_from: Optional[str] = None) -> str:
    """Markdown table (top-1 %, mean ± sample std over the seeds done).

    Config links are relative to the folder ``link_from`` (the Markdown
    file's folder); ``None``: relative to the repository root."""
    lines = [
        '| Method | Config | Seeds | Overall | Many | Medium | Few | '
        's / epoch | Wall / seed (min) | Peak RSS (MB) |',
        '|---|---|---|---|---|---|---|---|---|---|',
    ]
    for row in rows:
        if runs is not None and row['name'] not in runs:
            continue
        seeds = (f"{len(row['seeds_done'])}/{row['seeds_planned']}"
                 if row['seeds_done'] else f"0/{row['seeds_planned']}")
        cfg = osp.basename(row['config'])
        link = row['config'] if link_from is None else osp.relpath(
            osp.join(REPO, row['config']), link_from)
        wpe = row['wall_per_epoch_s']
        wps = row['wall_per_seed_s']
        mem = row['peak_rss_mb']
        lines.append(
            f"| {row['method']} | [{cfg}]({link}) | {seeds} | "
            + ' | '.join(_fmt(row[k]) for k, _ in SHOT_KEYS) + ' | '
            + (f'{wpe:.1f}' if wpe else '-') + ' | '
            + (f'{wps / 60:.1f}' if wps else '-') + ' | '
            + (f'{mem:.0f}' if mem else '-') + ' |')
    return '\n'.join(lines) + '\n'


def plot(rows: List[Dict], out: str, title: str) -> bool:
    """Bar chart of overall and few-shot top-1 per method, sample std over
    seeds as error bars. Returns False when nothing is measured yet."""
    rows = [r for r in rows if r['overall'][0] is not None]
    if not rows:
        return False
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    x = np.arange(len(rows))
    width = 0.38
    fig, ax = plt.subplots(figsize=(max(6, 0.75 * len(rows) + 2), 4.2))
    for off, key, label in ((-width / 2, 'overall', 'overall'),
                            (width / 2, 'few', 'few-shot')):
        means = [r[key][0] if r[key][0] is not None else 0 for r in rows]
        errs = [r[key][1] or 0 for r in rows]
        ax.bar(x + off, means, width, yerr=errs, capsize=3, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(
        [f"{r['method']}\n(n={len(r['seeds_done'])})" for r in rows],
        rotation=45, ha='right', fontsize=8)
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title(title, fontsize=10)
    ax.legend()
    ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    tmp = out + '.tmp.png'
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, out)
    return True


def replace_section(path: str, tag: str, body: str) -> bool:
    """Replace the text between the begin / end markers of ``tag`` in
    ``path``; returns False (file unchanged) when the markers are absent."""
    with open(path) as f:
        text = f.read()
    begin, end = MARK_BEGIN.format(tag=tag), MARK_END.format(tag=tag)
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        return False
    new = text[:i + len(begin)] + '\n' + body.rstrip('\n') + '\n' + text[j:]
    if new != text:
        atomic_write(path, new)
    return True


def write_reports(spec: Dict, jobs: List[Dict], work_root: str,
                  readmes: List[str] = (), log=print) -> List[Dict]:
    records = collect(jobs, work_root)
    rows = summarize(records, spec['runs'])
    atomic_write(
        osp.join(work_root, 'results.json'),
        json.dumps(dict(records=records, summary=rows), indent=1))
    table = markdown_table(rows)
    atomic_write(osp.join(work_root, 'results.md'),
                 f"# {spec['title']}\n\n{table}")
    plot(rows, osp.join(work_root, 'results.png'), spec['title'])
    for path in readmes:
        if not osp.isfile(path):
            log(f'warning: README {path} not found')
            continue
        names = None
        if osp.abspath(path) != osp.abspath(osp.join(REPO, 'README.md')):
            # a method README: its own rows (plus the run it builds on)
            names = set()
            for run in spec['runs']:
                if run.get('readme') and osp.abspath(osp.join(
                        REPO, run['readme'])) == osp.abspath(path):
                    names.add(run['name'])
                    if run.get('after'):
                        names.add(run['after'])
            names.add(spec['runs'][0]['name'])  # the baseline row
        if not replace_section(path, spec['readme_tag'],
                               markdown_table(
                                   rows, names,
                                   link_from=osp.dirname(
                                       osp.abspath(path)))):
            log(f"warning: {path} has no {spec['readme_tag']} markers")
    return rows


def collect_logs(jobs: List[Dict], work_root: str, dest: str) -> int:
    """Copy the small logs of every finished job into ``dest`` (to commit
    them): ``<name>/seed<s>/`` gets result.json, metrics.json, the
    ``scalars.json`` of each training segment (``scalars_<k>.json``) and
    the per-class accuracy files; ``dest`` gets results.json / .md / .png.
    Checkpoints are not copied. Returns the number of jobs copied."""
    import glob
    import shutil
    n = 0
    for job in jobs:
        src = job_dir(work_root, job)
        if read_json(osp.join(src, 'result.json')) is None:
            continue
        out = osp.join(dest, job['run']['name'], f"seed{job['seed']}")
        os.makedirs(out, exist_ok=True)
        for name in ('result.json', 'metrics.json'):
            if osp.isfile(osp.join(src, name)):
                shutil.copyfile(osp.join(src, name), osp.join(out, name))
        for k, path in enumerate(sorted(glob.glob(
                osp.join(src, '*', 'vis_data', 'scalars.json')))):
            shutil.copyfile(path, osp.join(out, f'scalars_{k}.json'))
        for path in glob.glob(osp.join(src, '**', 'per_class_*.json'),
                              recursive=True):
            shutil.copyfile(path, osp.join(out, osp.basename(path)))
        n += 1
    for name in ('results.json', 'results.md', 'results.png'):
        if osp.isfile(osp.join(work_root, name)):
            shutil.copyfile(osp.join(work_root, name), osp.join(dest, name))
    return n


def progress_line(done: int, total: int, start: float, key: str) -> str:
    width = 30
    filled = int(width * done / total) if total else width
    elapsed = time.time() - start
    return (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} jobs "
            f'| {elapsed / 60:.1f} min | {key}')


# ---------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('run_list', help='YAML run list')
    p.add_argument('--work-root', help='overrides work_root of the list')
    p.add_argument('--only', nargs='+', help='run only these run names')
    p.add_argument('--report-only', action='store_true',
                   help='only rewrite results.json/.md/.png (and READMEs)')
    p.add_argument('--update-readme', nargs='*', default=None,
                   help='rewrite the marked results section of these '
                   'Markdown files (no argument: README.md and the readme '
                   'of every run)')
    p.add_argument('--collect-logs', metavar='DIR',
                   help='with --report-only: copy the small logs of the '
                   'finished jobs (no checkpoints) and the results into DIR')
    p.add_argument('--python', default=sys.executable,
                   help='interpreter of the child processes')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    spec = load_run_list(args.run_list)
    work_root = args.work_root or spec['work_root']
    if not work_root:
        raise ValueError('no work root: set work_root in the run list or '
                         'pass --work-root')
    work_root = osp.abspath(work_root)
    os.makedirs(work_root, exist_ok=True)
    jobs = expand_jobs(spec['runs'])
    readmes = []
    if args.update_readme is not None:
        readmes = args.update_readme or ([osp.join(REPO, 'README.md')] + [
            osp.join(REPO, r) for r in dict.fromkeys(
                run['readme'] for run in spec['runs'] if run.get('readme'))
        ])
    if args.only:
        unknown = set(args.only) - {r['name'] for r in spec['runs']}
        if unknown:
            raise ValueError(f'--only: unknown run name(s) {sorted(unknown)}')
        todo = [j for j in jobs if j['run']['name'] in args.only]
    else:
        todo = jobs
    if args.report_only:
        write_reports(spec, jobs, work_root, readmes)
        if args.collect_logs:
            n = collect_logs(jobs, work_root, args.collect_logs)
            print(f'copied the logs of {n} finished jobs to '
                  f'{args.collect_logs}')
        return 0

    def stop(signum, frame):
        # run_child stops and reaps the running child
        raise KeyboardInterrupt(f'signal {signum}')

    signal.signal(signal.SIGTERM, stop)
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO + (os.pathsep + env['PYTHONPATH']
                                if env.get('PYTHONPATH') else '')
    start = time.time()
    failed = 0
    print(progress_line(0, len(todo), start, 'start'), flush=True)
    try:
        for i, job in enumerate(todo):
            print(f"-> {job['key']} ({job['run']['config']})", flush=True)
            t0 = time.time()
            rec = run_job(job, work_root, args.python, env,
                          log=lambda m: print(m, flush=True))
            msg = rec['status']
            if rec.get('metrics'):
                msg += ' ' + ' '.join(
                    f'{k}={v:.2f}' for k, v in rec['metrics'].items()
                    if v is not None)
            if rec.get('reason'):
                msg += f" ({rec['reason']})"
            failed += rec['status'] in ('failed', 'blocked')
            print(f"   {msg} [{(time.time() - t0) / 60:.1f} min]", flush=True)
            write_reports(spec, jobs, work_root, readmes)
            print(progress_line(i + 1, len(todo), start, job['key']),
                  flush=True)
    except KeyboardInterrupt as e:
        print(f'stopped ({e}); run the same command again to continue',
              flush=True)
        write_reports(spec, jobs, work_root, readmes)
        return 130
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
