# Copyright (c) ltcls contributors. All rights reserved.
"""Safe checkpoint loading for mmengine 0.10.7 on torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True``: its unpickler only rebuilds
tensors, containers and primitive types, plus what is explicitly
allow-listed. mmengine 0.10.7 predates that, and its Runner checkpoints hold
a few more types (``HistoryBuffer`` in the message hub, numpy arrays and
scalars inside it), so ``load_checkpoint`` / ``resume`` fail.

The fix here keeps ``weights_only=True`` on and allow-lists exactly those
types (:func:`allow_mmengine_checkpoint_types`). It never sets
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` and never passes ``weights_only=False``,
so a checkpoint that carries any other pickled object is refused; the local
file loader is replaced by :func:`safe_torch_load`, which turns torch's
unpickling error into :class:`UnsafeCheckpointError` naming the file and the
refused type.
"""
import pickle
import re
from typing import List

import torch

_ALLOWED = False


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint holds a pickled object outside the allow-list."""


_HISTORY_BUFFER_STATS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj, name):
    """A restricted stand-in for ``builtins.getattr`` during unpickling.

    ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'mean')`` and so on. Allow-listing the real
    ``getattr`` would let a checkpoint reach any attribute of any allowed
    object, so only these look-ups are served; anything else is refused.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed = set(_HISTORY_BUFFER_STATS) | set(
        getattr(HistoryBuffer, '_statistics_methods', {}))
    if obj is HistoryBuffer and isinstance(name, str) and name in allowed \
            and callable(getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'Unsupported global: GLOBAL builtins.getattr({obj!r}, {name!r}) is '
        'not an allowed look-up in a checkpoint')


def mmengine_checkpoint_safe_types() -> List:
    """The exact types mmengine / mmpretrain checkpoints hold besides
    tensors and plain containers."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    types = [
        HistoryBuffer, np.ndarray, np.dtype, _reconstruct, scalar,
        (_history_buffer_getattr, 'builtins.getattr')
    ]
    # The per-dtype classes (numpy >= 1.25 exposes them in numpy.dtypes);
    # pickles of arrays/scalars name them when rebuilding the dtype.
    for name in ('Float64DType', 'Float32DType', 'Float16DType', 'Int64DType',
                 'Int32DType', 'Int16DType', 'Int8DType', 'UInt8DType',
                 'BoolDType', 'LongLongDType', 'ULongLongDType'):
        dtype_cls = getattr(getattr(np, 'dtypes', None), name, None)
        if dtype_cls is not None:
            types.append(dtype_cls)
    return types


def allow_mmengine_checkpoint_types() -> None:
    """Allow-list mmengine's checkpoint types for ``weights_only`` loading
    and route mmengine's local checkpoint loader through
    :func:`safe_torch_load`. Idempotent."""
    global _ALLOWED
    if _ALLOWED:
        return
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(mmengine_checkpoint_safe_types())
    from mmengine.runner.checkpoint import CheckpointLoader

    @CheckpointLoader.register_scheme(prefixes='', force=True)
    def load_from_local(filename, map_location):
        import os.path as osp
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'checkpoint file {filename} does not '
                                    'exist')
        return safe_torch_load(filename, map_location=map_location)

    _ALLOWED = True


def safe_torch_load(filename, map_location=None):
    """``torch.load(weights_only=True)`` with a clear error on refusal.

    Raises:
        UnsafeCheckpointError: the file pickles a type that is not a tensor,
            a plain container or one of mmengine's allow-listed types.
    """
    allow_mmengine_checkpoint_types()
    try:
        return torch.load(filename, map_location=map_location,
                          weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        match = re.search(r'GLOBAL ([\w.]+)', msg)
        what = match.group(1) if match else 'an object outside the allow-list'
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {filename}: it contains a pickled '
            f'{what}, which is not a tensor, a plain container or one of the '
            'types mmengine checkpoints hold. ltcls loads checkpoints with '
            'weights_only=True and will not unpickle arbitrary objects. If '
            'you trust the file, convert it to a plain state_dict first.'
        ) from e
