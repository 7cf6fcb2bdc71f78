import itertools
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


@pytest.fixture(autouse=True)
def _reset_default_scope():
    """Every test starts in the 'ltcls' scope: a Runner built by an earlier
    test (default_scope 'mmengine' or 'mmdet') leaves its DefaultScope as the
    current instance, which would make later registry builds order-dependent.
    """
    from mmengine.registry import DefaultScope
    current = DefaultScope.get_current_instance()
    if current is None or current.scope_name != 'ltcls':
        name = f'ltcls-test-{next(_SCOPE_COUNTER)}'
        DefaultScope.get_instance(name, scope_name='ltcls')
    yield


_SCOPE_COUNTER = itertools.count()
