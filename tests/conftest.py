import os
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

# Two cores on CI: keep each test process from oversubscribing them.
os.environ.setdefault('OMP_NUM_THREADS', '2')

import ltcls  # noqa: E402,F401  (safe checkpoint loading, version checks)


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


@pytest.fixture(autouse=True, scope='session')
def _ltcls_scope():
    from ltcls.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    yield
