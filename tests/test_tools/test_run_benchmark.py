"""tools/analysis_tools/run_benchmark.py: ordering, dependencies, skip of
finished jobs, resume of an interrupted one, reports; with tiny fake
configs and a fake interpreter that stands in for tools/train.py /
tools/test.py (no training)."""
import json
import os
import os.path as osp
import stat
import sys
from importlib import import_module

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
rb = import_module('run_benchmark')

# Fake `python`: `fake tools/train.py CFG --work-dir WD ... [--resume C]`
# writes epoch_k.pth + last_checkpoint for every epoch up to max_epochs
# (from the config), and fails after epoch $FAKE_FAIL_AT if it is set;
# `fake tools/test.py CFG CKPT ... --out OUT` writes metrics that encode
# the seed. Every call is appended to $FAKE_CALLS.
FAKE = r'''#!{python}
import json, os, re, sys, time
args = sys.argv[1:]
with open(os.environ['FAKE_CALLS'], 'a') as f:
    f.write(json.dumps(args) + '\n')
cfg = open(args[1]).read()
max_epochs = int(re.search(r'max_epochs=(\d+)', cfg).group(1))


def metrics(seed):
    return {{'accuracy/top1': 50.0 + seed, 'accuracy/many': 80.0,
            'accuracy/medium': 50.0, 'accuracy/few': 10.0 + 2 * seed}}


if args[0] == 'tools/train.py':
    wd = args[args.index('--work-dir') + 1]
    seed = int(re.search(r'randomness.seed=(\d+)', ' '.join(args)).group(1))
    vis = os.path.join(wd, str(time.time_ns()), 'vis_data')
    os.makedirs(vis)
    log = open(os.path.join(vis, 'scalars.json'), 'a')
    start = 0
    if '--resume' in args:
        start = int(re.search(r'epoch_(\d+)',
                              args[args.index('--resume') + 1]).group(1))
    fail = int(os.environ.get('FAKE_FAIL_AT', '0'))
    for ep in range(start + 1, max_epochs + 1):
        log.write(json.dumps({{'loss': 1.0, 'time': 0.5, 'epoch': ep,
                              'iter': 4 * ep, 'step': 4 * ep}}) + '\n')
        log.flush()
        ck = os.path.join(wd, f'epoch_{{ep}}.pth')
        open(ck, 'w').write('x')
        open(os.path.join(wd, 'last_checkpoint'), 'w').write(ck)
        if ep == fail:
            sys.exit(3)
        time.sleep(float(os.environ.get('FAKE_SLEEP', '0')))
    # the final validation of the benchmark configs
    if 'test_evaluator' in cfg and not os.environ.get('FAKE_NO_VAL'):
        log.write(json.dumps(dict(metrics(seed), step=max_epochs)) + '\n')
else:
    out = args[args.index('--out-metrics') + 1]
    m = re.search(r'seed(\d+)', args[2])
    json.dump(metrics(int(m.group(1)) if m else 0), open(out, 'w'))
'''

CFG_TRAIN = 'train_cfg = dict(max_epochs=3)\n' \
    'test_dataloader = dict(batch_size=1)\n' \
    'test_evaluator = dict(type="LongTailAccuracy")\n'
CFG_STAGE1 = 'train_cfg = dict(max_epochs=2)\n'  # no evaluator


@pytest.fixture
def bench(tmp_path, monkeypatch):
    fake = tmp_path / 'fake_python'
    fake.write_text(FAKE.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    (tmp_path / 'ce.py').write_text(CFG_TRAIN)
    (tmp_path / 'crt.py').write_text(CFG_TRAIN.replace('=3', '=1'))
    (tmp_path / 'post.py').write_text(CFG_TRAIN)
    (tmp_path / 'kcl.py').write_text(CFG_STAGE1)
    (tmp_path / 'lin.py').write_text(CFG_TRAIN.replace('=3', '=2'))
    runs = tmp_path / 'runs.yml'
    runs.write_text(f'''
title: fake
work_root: {tmp_path / "work"}
readme_tag: fake-results
runs:
  - name: ce
    method: CE
    config: {tmp_path / "ce.py"}
    seeds: [0, 1]
    readme: {tmp_path / "CE_README.md"}
  - name: post
    method: post-hoc
    config: {tmp_path / "post.py"}
    after: ce
    test_only: true
  - name: crt
    method: cRT
    config: {tmp_path / "crt.py"}
    after: ce
    load_option: model.backbone.init_cfg.checkpoint
    seeds: [0, 1]
  - name: kcl
    config: {tmp_path / "kcl.py"}
  - name: kcl-linear
    method: KCL
    config: {tmp_path / "lin.py"}
    after: kcl
    load_option: model.backbone.init_cfg.checkpoint
''')
    (tmp_path / 'CE_README.md').write_text(
        'intro\n' + rb.MARK_BEGIN.format(tag='fake-results') + '\nold\n' +
        rb.MARK_END.format(tag='fake-results') + '\nrest\n')
    calls = tmp_path / 'calls.jsonl'
    monkeypatch.setenv('FAKE_CALLS', str(calls))
    monkeypatch.delenv('FAKE_FAIL_AT', raising=False)

    def run(*extra):
        return rb.main([str(runs), '--python', str(fake)] + list(extra))

    def read_calls():
        if not calls.exists():
            return []
        out = [json.loads(line) for line in calls.read_text().splitlines()]
        calls.unlink()
        return out

    return dict(root=tmp_path, work=tmp_path / 'work', run=run,
                calls=read_calls, runs=str(runs), fake=str(fake))


def _job(call):
    """(tool, work dir tail) of a fake call."""
    if call[0] == 'tools/train.py':
        wd = call[call.index('--work-dir') + 1]
    else:
        wd = osp.dirname(call[call.index('--out-metrics') + 1])
    return call[0].split('/')[-1], osp.relpath(wd, osp.dirname(wd) + '/..')


def test_order_dependencies_and_reports(bench):
    assert bench['run']() == 0
    calls = bench['calls']()
    assert [_job(c) for c in calls] == [
        ('train.py', 'ce/seed0'),  # metrics from its final validation
        ('test.py', 'post/seed0'),  # test-only: tools/test.py
        ('train.py', 'crt/seed0'),
        ('train.py', 'kcl/seed0'),  # no evaluator
        ('train.py', 'kcl-linear/seed0'),
        # seed-major: the seed-1 jobs come after every seed-0 job
        ('train.py', 'ce/seed1'),
        ('train.py', 'crt/seed1'),
    ]
    work = bench['work']
    ce0 = str(work / 'ce' / 'seed0' / 'epoch_3.pth')
    # the seed reaches the config; stage 2 loads its stage-1 checkpoint
    assert 'randomness.seed=1' in calls[5]
    assert f'model.backbone.init_cfg.checkpoint={ce0}' in calls[2]
    # the post-hoc job tests the CE checkpoint of the same seed
    assert calls[1][2] == ce0
    assert all('--resume' not in c for c in calls)

    res = json.load(open(work / 'results.json'))
    by = {(r['name'], r['seed']): r for r in res['records']}
    assert by[('ce', 1)]['metrics'] == dict(
        overall=51.0, many=80.0, medium=50.0, few=12.0)
    assert by[('kcl', 0)]['status'] == 'done'
    assert 'metrics' not in by[('kcl', 0)]
    assert by[('ce', 0)]['train_epochs'] == 3
    assert by[('ce', 0)]['wall_per_epoch_s'] == pytest.approx(4 * 0.5)
    assert by[('ce', 0)]['eval_source'] == 'final val of the train run'
    assert by[('post', 0)]['eval_source'] == 'tools/test.py'
    assert by[('ce', 0)]['train_maxrss_mb'] > 0
    rows = {r['name']: r for r in res['summary']}
    assert 'kcl' not in rows  # a stage-1 run without evaluation
    assert rows['ce']['seeds_done'] == [0, 1]
    assert rows['ce']['overall'][0] == pytest.approx(50.5)
    assert rows['ce']['overall'][1] == pytest.approx(0.5**0.5)  # sample std
    assert rows['post']['seeds_done'] == [0]
    md = (work / 'results.md').read_text()
    assert '| CE |' in md and '50.50 ± 0.71' in md and '| KCL |' in md
    assert (work / 'results.png').stat().st_size > 1000

    # finished jobs are skipped: a second run starts no child
    assert bench['run']() == 0
    assert bench['calls']() == []

    # --report-only + README section: only that README's rows (+ baseline)
    assert bench['run']('--report-only', '--update-readme',
                        str(bench['root'] / 'CE_README.md')) == 0
    readme = (bench['root'] / 'CE_README.md').read_text()
    assert readme.startswith('intro\n') and readme.endswith('rest\n')
    assert 'old' not in readme and '| CE |' in readme
    assert '| cRT |' not in readme
    assert bench['calls']() == []

    # --collect-logs: the small files of every finished job, no checkpoint
    dest = bench['root'] / 'docs'
    assert bench['run']('--report-only', '--collect-logs', str(dest)) == 0
    got = sorted(os.listdir(dest / 'ce' / 'seed0'))
    assert got == ['metrics.json', 'result.json', 'scalars_0.json']
    assert not (dest / 'post' / 'seed0' / 'scalars_0.json').exists()
    assert (dest / 'results.md').read_text() == md
    assert bench['calls']() == []


def test_interrupted_run_resumes(bench, monkeypatch):
    monkeypatch.setenv('FAKE_FAIL_AT', '2')
    assert bench['run']('--only', 'ce') == 1  # every train job fails
    calls = bench['calls']()
    assert [_job(c) for c in calls] == [('train.py', 'ce/seed0'),
                                        ('train.py', 'ce/seed1')]
    wd = bench['work'] / 'ce' / 'seed0'
    assert not (wd / 'result.json').exists()
    assert not (wd / 'train_done.json').exists()

    monkeypatch.delenv('FAKE_FAIL_AT')
    assert bench['run']('--only', 'ce') == 0
    calls = bench['calls']()
    train = [c for c in calls if c[0] == 'tools/train.py']
    assert len(train) == 2
    for c, seed in zip(train, (0, 1)):
        i = c.index('--resume')
        assert c[i + 1] == str(bench['work'] / 'ce' / f'seed{seed}' /
                               'epoch_2.pth')
    rec = json.load(open(wd / 'result.json'))
    assert rec['status'] == 'done'
    assert rec['train_segments'] == 2
    assert rec['train_epochs'] == 3  # 2 before the failure + 1 after
    assert [c for c in calls if c[0] == 'tools/test.py'] == []

    # stopped during the final validation: tools/test.py evaluates
    monkeypatch.setenv('FAKE_NO_VAL', '1')
    wd2 = bench['work'] / 'ce2'
    (bench['root'] / 'only_ce.yml').write_text(
        open(bench['runs']).read().replace('name: ce\n', 'name: ce2\n', 1)
        .replace('after: ce\n', 'after: ce2\n'))
    assert rb.main([str(bench['root'] / 'only_ce.yml'), '--python',
                    bench['fake'], '--only', 'ce2']) == 0
    assert [_job(c) for c in bench['calls']()] == [
        ('train.py', 'ce2/seed0'), ('test.py', 'ce2/seed0'),
        ('train.py', 'ce2/seed1'), ('test.py', 'ce2/seed1')]
    rec = json.load(open(wd2 / 'seed1' / 'result.json'))
    assert rec['eval_source'] == 'tools/test.py'
    assert rec['metrics']['overall'] == 51.0
    assert rec['eval_wall_s'] > 0


def test_sigterm_stops_child_and_keeps_segment(bench, monkeypatch):
    """SIGTERM to a background runner: the child is stopped and reaped,
    its segment recorded; the same command then resumes the job."""
    import signal
    import subprocess
    import time
    monkeypatch.setenv('FAKE_SLEEP', '3')
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.Popen(
        [sys.executable, osp.join(REPO, 'tools', 'analysis_tools',
                                  'run_benchmark.py'), bench['runs'],
         '--python', bench['fake'], '--only', 'ce'], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wd = bench['work'] / 'ce' / 'seed0'
    deadline = time.time() + 60
    while not (wd / 'epoch_1.pth').exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert 'run the same command again to continue' in out
    state = json.load(open(wd / 'bench_state.json'))
    seg = state['segments'][-1]
    assert seg['interrupted'] is True and seg['end_epoch'] == 1, state
    assert not (wd / 'train_done.json').exists()

    monkeypatch.setenv('FAKE_SLEEP', '0')
    assert bench['run']('--only', 'ce') == 0
    train = [c for c in bench['calls']() if c[0] == 'tools/train.py']
    # the interrupted call, then the resumed seed 0, then seed 1
    assert '--resume' in train[1] and str(wd / 'epoch_1.pth') in train[1]
    rec = json.load(open(wd / 'result.json'))
    assert rec['train_epochs'] == 3 and rec['train_segments'] == 2


def test_failed_dependency_blocks(bench, monkeypatch):
    monkeypatch.setenv('FAKE_FAIL_AT', '1')
    assert bench['run']('--only', 'ce', 'crt', 'post') == 1
    calls = bench['calls']()
    # crt / post never start: their stage-1 job has no checkpoint
    assert {_job(c)[1].split('/')[0] for c in calls} == {'ce'}
    res = json.load(open(bench['work'] / 'results.json'))
    statuses = {(r['name'], r['seed']): r['status'] for r in res['records']}
    assert statuses[('crt', 0)] == 'not run'
    assert '| cRT |' in (bench['work'] / 'results.md').read_text()
    assert 'not run' in (bench['work'] / 'results.md').read_text()


@pytest.mark.parametrize('bad,match', [
    ('runs:\n  - name: a\n', '`config`'),
    ('runs:\n  - {name: a, config: c.py, after: b}\n', 'earlier run'),
    ('runs:\n  - {name: a, config: c.py}\n  - {name: a, config: d.py}\n',
     'duplicate name'),
    ('runs:\n  - {name: a, config: c.py}\n'
     '  - {name: b, config: d.py, after: a}\n', 'load_option'),
    ('runs:\n  - {name: a, config: c.py, seeds: [0]}\n'
     '  - {name: b, config: d.py, after: a, test_only: true, seeds: [1]}\n',
     r'seeds \[1\] are not run by'),
    ('runs:\n  - {name: a, config: c.py, test_only: true}\n', 'needs `after`'),
    ('runs:\n  - {name: a, config: c.py, sede: [1]}\n', 'unknown key'),
])
def test_run_list_errors(tmp_path, bad, match):
    p = tmp_path / 'r.yml'
    p.write_text(bad)
    with pytest.raises(ValueError, match=match):
        rb.load_run_list(str(p))
