"""Runnable docs: the shell blocks of README.md and docs/en/*.md.

Marker convention: every fenced shell block (```bash / ```shell / ```sh)
is immediately preceded by one line

    <!-- runnable -->                    run by this test
    <!-- not-runnable: <reason> -->      not run (needs real data, a GPU...)

``test_every_shell_block_is_marked`` fails on an unmarked block (it takes
no time); ``test_runnable_blocks_run`` runs every runnable block and fails
on a non-zero exit, naming ``file:line``.

How a runnable block is run (the rewrite rules; keep blocks fast):

* all blocks, in the order of ``DOC_FILES``, run with ``bash -e -o
  pipefail`` in ONE scratch folder that links the repository's
  ``configs/``, ``tools/``, ``demo/``, ``projects/``..., so relative paths
  work, ``work_dirs/`` starts empty, and a block can use what an earlier
  one (also in an earlier file) wrote;
* ``python`` and ``.venv/bin/python`` are the test's interpreter;
  ``source .venv/bin/activate`` lines are dropped; ``PYTHONPATH`` is the
  repository;
* tiny overrides: a command that runs ``tools/train.py`` or
  ``tools/dist_train.sh`` gets ``--cfg-options`` :data:`TINY_TRAIN`
  appended (one epoch, validated, checkpointed), and every ``epoch_<N>.pth``
  in a command becomes ``epoch_1.pth`` (what a one-epoch run leaves);
* ``#`` comments are dropped, backslash continuations joined.

Every runnable block must be DigitsLT-sized: the whole run takes about two
minutes on 2 CPU cores.
"""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: run order (a block may use the outputs of the blocks before it)
DOC_FILES = [
    'README.md', 'docs/en/get_started.md', 'docs/en/data_preparation.md',
    'docs/en/two_stage.md', 'docs/en/analysis_tools.md',
    'docs/en/detection.md', 'docs/en/new_method_project.md',
    'docs/en/contributing.md', 'docs/en/index.md'
]
SHELL_LANGS = ('bash', 'shell', 'sh')
RUNNABLE = '<!-- runnable -->'
NOT_RUNNABLE = re.compile(r'^<!-- not-runnable: \S.*\S -->$')
#: what the scratch folder links from the repository
LINKED = ('configs', 'tools', 'demo', 'projects', 'ltcls', 'tests',
          'requirements', 'model-index.yml', 'setup.py', 'setup.cfg',
          'Makefile', 'README.md', 'docs')
TINY_TRAIN = ('train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
              'default_hooks.checkpoint.interval=1')
TRAIN_TOOLS = re.compile(r'(^|[\s/])(tools/train\.py|tools/dist_train\.sh)'
                         r'(\s|$)')


def _doc_files():
    files = [f for f in DOC_FILES if osp.isfile(osp.join(REPO, f))]
    extra = sorted(
        osp.relpath(osp.join(REPO, 'docs', 'en', f), REPO)
        for f in os.listdir(osp.join(REPO, 'docs', 'en'))
        if f.endswith('.md'))
    return files + [f for f in extra if f not in files]


def shell_blocks(rel):
    """(line number of the fence, marker line, block text) of every fenced
    shell block of a Markdown file."""
    lines = open(osp.join(REPO, rel), encoding='utf-8').read().split('\n')
    blocks = []
    i = 0
    while i < len(lines):
        m = re.match(r'^(\s*)(```+|~~~+)\s*([\w+-]*)', lines[i])
        if not m:
            i += 1
            continue
        fence = m.group(2)
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if m.group(3).lower() in SHELL_LANGS:
            marker = lines[i - 1].strip() if i > 0 else ''
            blocks.append((i + 1, marker, '\n'.join(lines[i + 1:j])))
        i = j + 1
    return blocks


def all_blocks():
    return [(rel, ) + b for rel in _doc_files() for b in shell_blocks(rel)]


def test_every_shell_block_is_marked():
    bad = [
        f'{rel}:{line}: {marker!r}' for rel, line, marker, _ in all_blocks()
        if marker != RUNNABLE and not NOT_RUNNABLE.match(marker)
    ]
    assert not bad, (
        'fenced shell blocks must be preceded by "<!-- runnable -->" or '
        '"<!-- not-runnable: <reason> -->" (tests/test_docs.py):\n' +
        '\n'.join(bad))
    assert any(m == RUNNABLE for _, _, m, _ in all_blocks())


def logical_lines(text):
    """Commands of a block: continuations joined, comments dropped."""
    out, cur = [], ''
    for raw in text.split('\n'):
        line = raw.rstrip()
        if line.endswith('\\'):
            cur += line[:-1] + ' '
            continue
        cur += line
        cur = re.sub(r'(^|\s)#(\s.*|$)', '', cur).strip()
        if cur:
            out.append(cur)
        cur = ''
    return out


def rewrite(command):
    """Apply the rewrite rules of the module docstring to one command."""
    if re.fullmatch(r'(source|\.) \.venv/bin/activate', command):
        return None
    command = re.sub(r'(^|\s)\.venv/bin/python(\s)', rf'\1{sys.executable}\2',
                     command)
    command = re.sub(r'epoch_\d+\.pth', 'epoch_1.pth', command)
    if TRAIN_TOOLS.search(command):
        command += ' --cfg-options ' + ' '.join(TINY_TRAIN)
    return command


def test_rewrite_rules():
    assert rewrite('source .venv/bin/activate') is None
    assert rewrite('python tools/train.py a.py') == (
        'python tools/train.py a.py --cfg-options ' + ' '.join(TINY_TRAIN))
    assert rewrite('python tools/test.py a.py w/epoch_40.pth') == \
        'python tools/test.py a.py w/epoch_1.pth'
    assert logical_lines('a \\\n  b  # c\n# d\n\ne') == ['a    b', 'e']


@pytest.fixture(scope='module')
def scratch(tmp_path_factory):
    root = tmp_path_factory.mktemp('docs_run')
    for name in LINKED:
        if osp.exists(osp.join(REPO, name)):
            os.symlink(osp.join(REPO, name), root / name)
    bindir = root / '.bin'
    bindir.mkdir()
    for name in ('python', 'python3'):
        # a wrapper, not a symlink: a venv's python must keep its own path
        # to find its pyvenv.cfg
        (bindir / name).write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        (bindir / name).chmod(0o755)
    return root


@pytest.mark.slow
def test_runnable_blocks_run(scratch):
    env = dict(os.environ)
    env['PATH'] = f'{scratch / ".bin"}{os.pathsep}{env.get("PATH", "")}'
    env['PYTHONPATH'] = REPO + (os.pathsep + env['PYTHONPATH']
                                if env.get('PYTHONPATH') else '')
    env.setdefault('OMP_NUM_THREADS', '2')
    env['MPLBACKEND'] = 'Agg'
    ran = 0
    for rel, line, marker, text in all_blocks():
        if marker != RUNNABLE:
            continue
        commands = [c for c in map(rewrite, logical_lines(text)) if c]
        script = 'set -e -o pipefail\n' + '\n'.join(commands) + '\n'
        proc = subprocess.run(['bash', '-c', script],
                              cwd=str(scratch),
                              env=env,
                              capture_output=True,
                              text=True,
                              timeout=600)
        assert proc.returncode == 0, (
            f'{rel}:{line}: runnable block failed (exit '
            f'{proc.returncode}):\n{script}\n--- stdout\n'
            f'{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-5000:]}')
        ran += 1
    assert ran > 0
