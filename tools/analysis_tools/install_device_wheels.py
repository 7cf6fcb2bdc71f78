# Copyright (c) ltcls contributors. All rights reserved.
"""Install the OpenMMLab stack from the wheels folder into a target dir,
offline, for tools/analysis_tools/gpu_check.sh.

For every module the GPU check imports (mmengine, mmcv, mmpretrain, mmdet
and their runtime requirements, see tools/misc/build_device_wheels.sh),
in order: if this Python already imports it, keep the machine's own (its
numpy, Pillow, ... match its torch); otherwise extract the wheel from the
folder into ``--target`` (a wheel is a zip of the installed files, which is
what ``pip install --target --no-deps`` writes, minus scripts; no pip and
no network needed). If ``cv2`` is missing, the stand-in of
``device_standins/cv2`` is copied in (see its docstring). Binary wheels
must match this Python (cp3XY or abi3); a missing module without a
matching wheel is an error that names it.

    python tools/analysis_tools/install_device_wheels.py \\
        --wheels wheels --target /tmp/ltcls_device_site
"""
import argparse
import glob
import importlib.util
import os
import os.path as osp
import re
import shutil
import sys
import zipfile

# (module imported, wheel name prefix), dependencies first
MODULES = (
    ('numpy', 'numpy'), ('yaml', 'pyyaml'), ('packaging', 'packaging'),
    ('pkg_resources', 'setuptools'), ('six', 'six'),
    ('addict', 'addict'), ('platformdirs', 'platformdirs'),
    ('yapf', 'yapf'), ('termcolor', 'termcolor'), ('mdurl', 'mdurl'),
    ('markdown_it', 'markdown_it_py'), ('pygments', 'pygments'),
    ('rich', 'rich'), ('zipp', 'zipp'), ('lazy_importer', 'lazy_importer'),
    ('importlib_metadata', 'importlib_metadata'), ('einops', 'einops'),
    ('mat4py', 'mat4py'), ('click', 'click'), ('markdown', 'markdown'),
    ('ordered_set', 'ordered_set'), ('modelindex', 'model_index'),
    ('terminaltables', 'terminaltables'), ('tqdm', 'tqdm'),
    ('cycler', 'cycler'), ('pyparsing', 'pyparsing'),
    ('dateutil', 'python_dateutil'), ('PIL', 'pillow'),
    ('kiwisolver', 'kiwisolver'), ('contourpy', 'contourpy'),
    ('fontTools', 'fonttools'), ('matplotlib', 'matplotlib'),
    ('pycocotools', 'pycocotools'), ('shapely', 'shapely'),
    ('torchvision', 'torchvision'), ('mmengine', 'mmengine'),
    ('mmcv', 'mmcv_lite'),
    ('mmpretrain', 'mmpretrain'), ('mmdet', 'mmdet'))
STANDINS = osp.join(osp.dirname(osp.abspath(__file__)), 'device_standins')


def _compatible(path: str) -> bool:
    tags = osp.basename(path)[:-4].split('-')[-3:]  # python, abi, platform
    py = 'cp%d%d' % sys.version_info[:2]
    if tags[0].startswith('py'):
        return True
    return py in tags[0].split('.') or 'abi3' in tags[1]


def _torch_of(wheel: str) -> str:
    """'2.14' for a torchvision wheel that requires ``torch (>=2.14.0)``
    or ``torch==2.14.1``: torchvision's binary fits that torch minor."""
    with zipfile.ZipFile(wheel) as z:
        meta = [n for n in z.namelist() if n.endswith('.dist-info/METADATA')]
        for line in z.read(meta[0]).decode().splitlines():
            m = re.match(r'Requires-Dist: torch \(?[>=]=\s*(\d+\.\d+)', line)
            if m:
                return m.group(1) + '.'
    return ''


def _find(wheels: str, prefix: str):
    found = [
        p for p in glob.glob(osp.join(wheels, '*.whl'))
        if osp.basename(p).lower().split('-')[0] == prefix.lower()
    ]
    ok = [p for p in found if _compatible(p)]
    return (ok or [None])[0], found


def install(wheels: str, target: str, verbose: bool = True) -> list:
    """Returns the list of wheels extracted (and 'cv2 stand-in')."""
    os.makedirs(target, exist_ok=True)
    sys.path.insert(0, target)
    done, missing = [], []
    for module, prefix in MODULES:
        importlib.invalidate_caches()
        if importlib.util.find_spec(module) is not None:
            continue
        wheel, found = _find(wheels, prefix)
        if module == 'torchvision' and wheel is not None:
            import torch  # a torchvision build fits one torch version
            want = _torch_of(wheel)
            if want and not torch.__version__.startswith(want):
                missing.append(f'torchvision (the wheel is built for torch '
                               f'{want}, this machine has torch '
                               f'{torch.__version__}: install its matching '
                               'torchvision)')
                continue
        if wheel is None:
            why = (f'{len(found)} wheel(s) for other Pythons: '
                   f'{[osp.basename(f) for f in found]}'
                   if found else f'no wheel in {wheels}')
            missing.append(f'{module} ({why})')
            continue
        with zipfile.ZipFile(wheel) as z:
            z.extractall(target)
        done.append(osp.basename(wheel))
    importlib.invalidate_caches()
    if importlib.util.find_spec('cv2') is None:
        shutil.copytree(
            osp.join(STANDINS, 'cv2'),
            osp.join(target, 'cv2'),
            dirs_exist_ok=True)
        done.append('cv2 stand-in')
    if missing:
        raise SystemExit(
            f'install_device_wheels: Python {sys.version.split()[0]} lacks '
            f'{"; ".join(missing)}. Build the wheels with '
            'tools/misc/build_device_wheels.sh (with this Python version) '
            'and bring the folder along')
    if verbose:
        print(f'install_device_wheels: {len(done)} installed into {target}: '
              + ', '.join(done) if done else
              'install_device_wheels: everything already importable')
    return done


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--wheels', default='wheels')
    p.add_argument('--target', default='/tmp/ltcls_device_site')
    a = p.parse_args(argv)
    install(a.wheels, a.target)


if __name__ == '__main__':
    main()
