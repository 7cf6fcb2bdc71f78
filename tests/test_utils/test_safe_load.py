"""weights_only loading stays on; mmengine checkpoint types are allowed,
anything else is refused with a clear error."""
import collections
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import _load_checkpoint

from ltcls.utils import UnsafeCheckpointError, safe_torch_load


class Evil:
    """A pickled object that would run code on load."""

    def __reduce__(self):
        return (os.system, ('echo pwned > /tmp/ltcls_pwned',))


def test_env_does_not_disable_safe_loading():
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') in (None, '0')


def test_mmengine_types_load(tmp_path):
    hb = HistoryBuffer()
    hb.update(1.5)
    hb.update(np.float64(2.5))
    ckpt = {
        'meta': {'epoch': 3, 'iter': 30, 'dataset_meta': {'classes': ('a',)}},
        'state_dict': collections.OrderedDict(w=torch.ones(2)),
        'message_hub': {'log_scalars': {'train/loss': hb},
                        'runtime_info': {'x': np.float32(1.0),
                                         'arr': np.arange(3)}},
    }
    path = tmp_path / 'ok.pth'
    torch.save(ckpt, path)
    loaded = safe_torch_load(str(path))
    assert loaded['meta']['iter'] == 30
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == 2.0
    assert (loaded['message_hub']['runtime_info']['arr'] == np.arange(3)).all()
    # mmengine's own loader goes through the same safe path
    assert _load_checkpoint(str(path))['meta']['epoch'] == 3


def test_arbitrary_object_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'payload': Evil()}, path)
    if osp.exists('/tmp/ltcls_pwned'):
        os.remove('/tmp/ltcls_pwned')
    with pytest.raises(UnsafeCheckpointError, match='posix.system|system'):
        safe_torch_load(str(path))
    with pytest.raises(UnsafeCheckpointError, match='Refusing to load'):
        load_checkpoint(torch.nn.Linear(1, 1), str(path))
    assert not osp.exists('/tmp/ltcls_pwned')


def test_missing_checkpoint_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


class SneakyGetattr:
    """Tries to use the getattr that HistoryBuffer's pickles need to reach
    something else."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__subclasses__'))


def test_getattr_only_serves_history_buffer_statistics(tmp_path):
    path = tmp_path / 'sneaky.pth'
    torch.save({'x': SneakyGetattr()}, path)
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        safe_torch_load(str(path))
