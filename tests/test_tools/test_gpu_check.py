"""tools/analysis_tools/gpu_check.sh and its driver on CPU with tiny sizes:
everything of the prepared accelerator check except CUDA itself."""
import json
import os
import os.path as osp
import subprocess
import sys
import zipfile

import pytest

TINY = [
    '--steps', '2', '--warmup', '1', '--size', '32', '--batch', '4',
    '--depth', '18', '--num-classes', '10', '--paco-queue', '64',
    '--rescom-q', '2', '--repeat', '1'
]


def test_gpu_check_sh_cpu_mode(tmp_path, repo_root):
    out = tmp_path / 'out'
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        DEVICE='cpu',
        OUT=str(out),
        WHEELS=str(tmp_path / 'no_wheels'),  # everything is installed here
        LTCLS_DEVICE_SITE=str(tmp_path / 'site'),
        OMP_NUM_THREADS='1')
    proc = subprocess.run(
        ['bash', 'tools/analysis_tools/gpu_check.sh'] + TINY,
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((out / 'gpu_check.json').read_text())
    assert res['ok']
    assert len(res['losses']) >= 14
    assert all(r['ok'] and r['d_loss'] == 0 for r in res['losses'])
    assert [r['method'] for r in res['steps']] == \
        ['ce', 'paco', 'rescom', 'sbcl', 'hybrid-sc']
    for r in res['steps']:
        assert r['finite'] and r['step_ms'] > 0 and r['peak_mb'] is None
        assert (r['method'] == 'ce') == ('loss_ms' not in r)
    table = (out / 'gpu_check.md').read_text()
    assert '| hybrid-sc |' in table and 'OK in' in table


def test_driver_rejects_bad_steps(repo_root):
    proc = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark_gpu_step.py',
         '--device', 'cpu', '--steps', '2', '--warmup', '3'],
        cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and 'must exceed --warmup' in proc.stderr


@pytest.fixture
def installer(repo_root):
    sys.path.insert(0, osp.join(repo_root, 'tools', 'analysis_tools'))
    import install_device_wheels
    yield install_device_wheels
    sys.path.pop(0)


def _fake_wheel(folder, name, module, tag='py3-none-any'):
    path = folder / f'{name}-1.0-{tag}.whl'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr(f'{module}/__init__.py', 'VALUE = 42\n')
        z.writestr(f'{name}-1.0.dist-info/METADATA',
                   f'Name: {name}\nVersion: 1.0\n')
    return path


def test_installer_extracts_missing_and_names_what_it_cannot(
        tmp_path, installer, monkeypatch):
    wheels = tmp_path / 'wheels'
    wheels.mkdir()
    _fake_wheel(wheels, 'ltcls_fake_pkg', 'ltcls_fake_pkg')
    _fake_wheel(wheels, 'ltcls_fake_bin', 'ltcls_fake_bin',
                'cp27-cp27m-manylinux1_x86_64')
    monkeypatch.setattr(installer, 'MODULES',
                        (('json', 'json'),
                         ('ltcls_fake_pkg', 'ltcls_fake_pkg')))
    target = tmp_path / 'site'
    try:
        done = installer.install(str(wheels), str(target), verbose=False)
        assert done == ['ltcls_fake_pkg-1.0-py3-none-any.whl']  # json kept
        assert (target / 'ltcls_fake_pkg' / '__init__.py').is_file()
        monkeypatch.setattr(installer, 'MODULES',
                            (('ltcls_fake_bin', 'ltcls_fake_bin'), ))
        with pytest.raises(SystemExit, match='ltcls_fake_bin.*other Pythons'):
            installer.install(str(wheels), str(target), verbose=False)
    finally:
        sys.path[:] = [p for p in sys.path if p != str(target)]
        sys.modules.pop('ltcls_fake_pkg', None)
