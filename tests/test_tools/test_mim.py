"""Packaging for mim: a wheel (``pip install .``) and an editable install
ship ``ltcls/.mim/`` (configs, tools, model-index.yml), and ``mim search /
train / test ltcls`` work from a folder outside the repository.

The shared environment is never re-installed: the package is built from a
copy of the repository into a throw-away ``--target`` folder (wheel) or
laid out in the copy as an editable install leaves it (``ltcls.egg-info``
next to ``ltcls/``, ``ltcls/.mim`` symlinks), and put first on
``PYTHONPATH`` of the ``mim`` subprocess. openmim locates a package as
``<distribution location>/<module>`` (``mim.utils.get_installed_path``).
``test_mim_of_this_environment`` checks the real install when it is the
one of this checkout (CI after ``tools/install.sh``).
"""
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: what is not copied (build outputs, data, environments)
SKIP = {
    '.git', '.venv', 'work_dirs', 'data', 'build', 'dist', '.pytest_cache',
    '__pycache__', '.mim', 'ltcls.egg-info'
}
DIGITS_CFG = 'ce_resnet32_1xb32-coslr-40e_digits-lt-if50.py'
MIM = osp.join(osp.dirname(sys.executable), 'mim')
needs_mim = pytest.mark.skipif(
    not osp.isfile(MIM),
    reason='openmim is not installed (requirements/runtime.txt)')


def _copy_repo(dst):
    def ignore(_, names):
        return [n for n in names if n in SKIP or n.endswith('.pth')]

    shutil.copytree(REPO, dst, ignore=ignore, symlinks=True)
    return dst


def _run(cmd, cwd, pythonpath=None, timeout=600, **env_extra):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    if pythonpath:
        env['PYTHONPATH'] = pythonpath
    env.setdefault('OMP_NUM_THREADS', '2')
    env.update(env_extra)
    proc = subprocess.run(
        cmd,
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)
    assert proc.returncode == 0, (f'{cmd} failed ({proc.returncode}):\n'
                                  f'{proc.stdout[-4000:]}\n'
                                  f'{proc.stderr[-6000:]}')
    return proc


@pytest.fixture(scope='module')
def wheel_site(tmp_path_factory):
    """``pip install --target`` of a copy of the repository (a wheel
    build, as a non-editable ``pip install .``)."""
    root = tmp_path_factory.mktemp('mim_wheel')
    src = _copy_repo(str(root / 'src'))
    site = str(root / 'site')
    _run([
        sys.executable, '-m', 'pip', 'install', '--no-deps',
        '--no-build-isolation', '--no-index', '-q', '--target', site, src
    ], root)
    return site


@pytest.fixture(scope='module')
def editable_src(tmp_path_factory):
    """A copy laid out as ``pip install -e .`` / tools/install.sh leave the
    checkout: ``ltcls.egg-info`` and the ``ltcls/.mim`` symlinks."""
    root = tmp_path_factory.mktemp('mim_editable')
    src = _copy_repo(str(root / 'src'))
    _run([sys.executable, 'setup.py', '-q', 'egg_info'],
         src,
         LTCLS_MIM_MODE='symlink')
    return src


def test_wheel_ships_mim_folder(wheel_site):
    mim_dir = osp.join(wheel_site, 'ltcls', '.mim')
    for rel in ('model-index.yml', 'configs/quickstart/resnet32_ce_digits-lt'
                '.py', 'configs/ce/metafile.yml', 'configs/_base_/'
                'default_runtime.py', 'tools/train.py', 'tools/test.py',
                'tools/dist_train.sh', 'tools/model_converters/'
                'publish_model.py'):
        path = osp.join(mim_dir, rel)
        assert osp.isfile(path) and not osp.islink(path), rel
        with open(path, 'rb') as a, open(osp.join(REPO, rel), 'rb') as b:
            assert a.read() == b.read(), rel
    n_configs = sum(
        len([f for f in files if f.endswith('.py')])
        for _, _, files in os.walk(osp.join(REPO, 'configs')))
    n_shipped = sum(
        len([f for f in files if f.endswith('.py')])
        for _, _, files in os.walk(osp.join(mim_dir, 'configs')))
    assert n_shipped == n_configs
    assert osp.isfile(osp.join(wheel_site, 'ltcls', 'apis', '__init__.py'))


def test_editable_layout_links_mim_folder(editable_src):
    mim_dir = osp.join(editable_src, 'ltcls', '.mim')
    for name in ('configs', 'tools', 'model-index.yml'):
        link = osp.join(mim_dir, name)
        assert osp.islink(link), name
        assert osp.realpath(link) == osp.realpath(
            osp.join(editable_src, name))
    assert osp.isdir(osp.join(editable_src, 'ltcls.egg-info'))


@needs_mim
@pytest.mark.parametrize('layout', ['wheel', 'editable'])
def test_mim_search_from_another_folder(layout, wheel_site, editable_src,
                                        tmp_path):
    path = wheel_site if layout == 'wheel' else editable_src
    proc = _run([MIM, 'search', 'ltcls', '--field', 'epochs'], tmp_path, path)
    out = proc.stdout
    assert 'ce_resnet32_1xb32-coslr-40e_digits-lt-if50' in out, out[-2000:]
    assert 'paco_resnet32_1xb32-coslr-40e_digits-lt-if50' in out


@needs_mim
@pytest.mark.slow
def test_mim_train_and_test_from_another_folder(wheel_site, tmp_path):
    """``mim train ltcls <config name>`` finds the config in
    ``ltcls/.mim/configs`` and runs ``ltcls/.mim/tools/train.py``; then
    ``mim test`` evaluates the checkpoint."""
    work = str(tmp_path / 'work')
    tiny = [
        '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1'
    ]
    proc = _run([
        MIM, 'train', 'ltcls', DIGITS_CFG, '--gpus', '0', '--work-dir', work
    ] + tiny, tmp_path, wheel_site)
    config_used = osp.join(wheel_site, 'ltcls', '.mim', 'configs', 'ce',
                           DIGITS_CFG)
    assert osp.realpath(config_used) in proc.stdout
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt), os.listdir(work)
    metrics = str(tmp_path / 'metrics.json')
    _run([
        MIM, 'test', 'ltcls', DIGITS_CFG, '--checkpoint', ckpt, '--gpus', '0',
        '--work-dir',
        str(tmp_path / 'test'), '--out-metrics', metrics
    ], tmp_path, wheel_site)
    import json
    with open(metrics) as f:
        result = json.load(f)
    assert 0 <= result['accuracy/top1'] <= 100
    assert 'accuracy/many' in result or any('many' in k for k in result)


@needs_mim
def test_mim_of_this_environment(tmp_path):
    """Without PYTHONPATH, from /tmp: when this environment's ltcls is this
    checkout (tools/install.sh on a CI clone), mim must find it."""
    probe = _run([
        sys.executable, '-W', 'ignore', '-c',
        'import pkg_resources, ltcls, os; print(os.path.realpath(os.path.'
        'dirname(ltcls.__file__)))'
    ], tmp_path)
    if probe.stdout.strip() != osp.realpath(osp.join(REPO, 'ltcls')):
        pytest.skip(f'ltcls in this environment is {probe.stdout.strip()}, '
                    f'not this checkout ({REPO})')
    proc = _run([MIM, 'search', 'ltcls', '--field', 'epochs'], tmp_path)
    assert 'ce_resnet32_1xb32-coslr-40e_digits-lt-if50' in proc.stdout
