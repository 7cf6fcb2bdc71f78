# Copyright (c) ltcls contributors. All rights reserved.
"""Safe checkpoint loading for mmengine 0.10.7 on torch >= 2.6, on every
scheme.

torch >= 2.6 loads with ``weights_only=True``: its unpickler only rebuilds
tensors, containers and primitive types, plus what is explicitly
allow-listed. mmengine 0.10.7 predates that, and its Runner checkpoints hold
a few more types (``HistoryBuffer`` in the message hub, numpy arrays and
scalars inside it), so ``load_checkpoint`` / ``resume`` fail.

The fix here keeps ``weights_only=True`` on and allow-lists exactly those
types (:func:`allow_mmengine_checkpoint_types`). It never sets
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` and never passes ``weights_only=False``.

Every loader mmengine's ``CheckpointLoader`` registers is replaced by one
that reads the bytes the same way (local file, hub cache + download, pavi,
s3 / petrel) and then unpickles them with :func:`safe_torch_load` only:

==============================  =========================================
scheme                          ltcls loader
==============================  =========================================
``''`` (local path)             :func:`load_from_local`
``http://``, ``https://``       :func:`load_from_http` (torch hub cache,
                                ``$TORCH_HOME/hub/checkpoints``)
``torchvision://``,             :func:`load_from_torchvision` (URL from
``modelzoo://``                 mmengine's table, then the http loader)
``open-mmlab://``,              :func:`load_from_openmmlab`
``openmmlab://``
``mmcls://``                    :func:`load_from_mmcls`
``pavi://``                     :func:`load_from_pavi`
``s3://``, ``petrel://``        :func:`load_from_ceph`
==============================  =========================================

mmengine's own http loader goes through ``torch.hub.load_state_dict_from_url``
whose ``weights_only`` defaults to ``False``: a hub-cached file is unpickled
with no restriction. (``load_state_dict_from_url(weights_only=True)`` would
be safe too, but it bypasses the allow-list errors and the corruption
diagnosis below, so the download is reused and the unpickling is ours.)

``CheckpointLoader.load_checkpoint`` is also wrapped so that a scheme some
other package registers *after* ltcls (with a loader that was not routed
here) is refused with :class:`UnsafeCheckpointError` instead of silently
unpickling; :func:`register_safe_scheme` registers a new one.

:func:`safe_torch_load` raises :class:`UnsafeCheckpointError` naming the file
and the refused type, and :class:`CorruptCheckpointError` naming the file
when it is truncated or corrupt (instead of torch's raw ``PytorchStreamReader
failed reading zip archive`` / ``EOFError``).
"""
import io
import logging
import os
import os.path as osp
import pickle
import re
import sys
import zipfile
from tempfile import TemporaryDirectory
from typing import Callable, List, Optional
from urllib.parse import urlparse

import torch

_ALLOWED = False

__all__ = [
    'UnsafeCheckpointError', 'CorruptCheckpointError', 'safe_torch_load',
    'allow_mmengine_checkpoint_types', 'register_safe_scheme',
    'safe_load_url', 'SAFE_SCHEMES'
]


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint holds a pickled object outside the allow-list."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file is truncated or corrupt."""


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


# --------------------------------------------------------------------------
# safe_torch_load: the one place where ltcls unpickles a checkpoint
# --------------------------------------------------------------------------

# What torch's weights-only unpickler says when it refuses something, most
# specific first; group 1 names the refused global / type / callable.
_REFUSAL_PATTERNS = (
    (r'GLOBAL (builtins\.getattr\([^\n]*?\)) is not an allowed', '{}'),
    (r'GLOBAL ([\w.]+)', 'the global {}'),
    (r'but got (<[^>\n]+>|[^\s,]+)', 'an object of type {}'),
    (r'unrecognized function (<[^>\n]+>|[^\s,]+)', 'a call of {}'),
    (r'Unsupported operand (\d+)', 'the pickle opcode {} (not allowed)'),
)


def _refused_object(msg: str) -> str:
    """Name what torch refused to unpickle, from its error message."""
    for pattern, template in _REFUSAL_PATTERNS:
        match = re.search(pattern, msg)
        if match:
            return template.format(match.group(1))
    detail = [line.strip() for line in msg.splitlines() if line.strip()]
    detail = detail[-1] if detail else 'no detail given'
    return f'an object outside the allow-list (torch: {detail[:300]})'


def _corruption_reason(src) -> Optional[str]:
    """Why ``src`` (a path or a seekable binary file object) is not a
    complete torch checkpoint, or None if its container looks intact.

    A torch >= 1.6 checkpoint is a zip archive: its central directory (at
    the end) and the CRC of every member are checked. A legacy (pickle)
    checkpoint cannot be checked beyond its first byte. Only called after a
    load failed, so reading the file once more costs nothing in the normal
    case."""
    try:
        if isinstance(src, (str, os.PathLike)):
            if os.path.getsize(src) == 0:
                return 'the file is empty (0 bytes)'
            with open(src, 'rb') as f:
                head = f.read(4)
        else:
            src.seek(0)
            head = src.read(4)
            src.seek(0)
            if not head:
                return 'it is empty (0 bytes)'
        if head.startswith(b'PK'):
            try:
                with zipfile.ZipFile(src) as archive:
                    bad = archive.testzip()
            except zipfile.BadZipFile as e:
                return (f'it is not a complete zip archive ({e}); it was '
                        'probably cut off while being written or copied')
            if bad is not None:
                return f'the CRC of its entry {bad!r} does not match'
            return None
        if head[:1] == b'\x80':  # a pickle: the legacy torch format
            return None
        return ('it is neither a torch (zip) checkpoint nor a legacy torch '
                f'pickle (it starts with {head!r})')
    except (OSError, EOFError, ValueError, RuntimeError) as e:
        return f'reading it fails ({type(e).__name__}: {e})'


def _is_truncation(e: BaseException) -> bool:
    """An error that a legacy pickle ending early raises."""
    return isinstance(e, EOFError) or (
        isinstance(e, pickle.UnpicklingError)
        and 'truncated' in str(e).lower())


def safe_torch_load(filename, map_location=None, name: Optional[str] = None):
    """``torch.load(weights_only=True)`` with clear errors.

    Args:
        filename (str | PathLike | file object): What to load.
        map_location: Same as :func:`torch.load`.
        name (str, optional): How to name the source in errors (e.g. the
            ``s3://`` URI of an in-memory buffer). Defaults to ``filename``.

    Raises:
        UnsafeCheckpointError: the file pickles a type that is not a tensor,
            a plain container or one of mmengine's allow-listed types; the
            message names that type.
        CorruptCheckpointError: the file is truncated or corrupt (empty, cut
            off zip archive, CRC mismatch, legacy pickle ending early).
    """
    allow_mmengine_checkpoint_types()
    name = str(filename) if name is None else name
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as e:
        reason = _corruption_reason(filename)
        if reason is None and _is_truncation(e):
            reason = 'its data ends early'
        first_line = (str(e).strip().splitlines() or [''])[0][:160]
        if reason is not None:
            raise CorruptCheckpointError(
                f'Cannot load checkpoint {name}: the file is truncated or '
                f'corrupt: {reason} (torch: {type(e).__name__}: '
                f'{first_line}). Use another copy (e.g. the previous '
                'checkpoint of the run, or download it again).') from e
        if isinstance(e, pickle.UnpicklingError):
            raise UnsafeCheckpointError(
                f'Refusing to load checkpoint {name}: it contains '
                f'{_refused_object(str(e))}, which is not a tensor, a plain '
                'container or one of the types mmengine checkpoints hold. '
                'ltcls loads checkpoints with weights_only=True and will not '
                'unpickle arbitrary objects. If you trust the file, convert '
                'it to a plain state_dict first.') from e
        raise


# --------------------------------------------------------------------------
# the checkpoint schemes (mmengine/runner/checkpoint.py, all re-registered)
# --------------------------------------------------------------------------

#: The loaders known to unpickle through :func:`safe_torch_load` only.
_SAFE_LOADERS = set()

#: The prefixes ltcls registers (regular expressions, as mmengine's).
SAFE_SCHEMES = ('', 'http://', 'https://', 'modelzoo://', 'torchvision://',
                'open-mmlab://', 'openmmlab://', 'mmcls://', 'pavi://',
                r'(\S+\:)?s3://', r'(\S+\:)?petrel://')


def register_safe_scheme(prefixes, loader: Callable) -> Callable:
    """Register ``loader(filename, map_location)`` for ``prefixes`` in
    mmengine's ``CheckpointLoader`` (overriding what is there) and mark it
    safe. ``loader`` must unpickle with :func:`safe_torch_load` only."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes, loader, force=True)
    _SAFE_LOADERS.add(loader)
    return loader


def load_from_local(filename, map_location=None):
    """A local checkpoint file (``~`` is expanded)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename} does not '
                                'exist')
    return safe_torch_load(filename, map_location=map_location)


def _hub_cached_file(url: str, model_dir: Optional[str], progress: bool,
                     check_hash: bool = False,
                     file_name: Optional[str] = None) -> str:
    """Where ``torch.hub.load_state_dict_from_url`` caches ``url``
    (``<torch hub dir>/checkpoints/<basename>``); downloaded there first if
    absent (``download_url_to_file`` writes a temporary file and moves it,
    so a broken download leaves no cached file)."""
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    filename = file_name or osp.basename(urlparse(url).path)
    cached_file = osp.join(model_dir, filename)
    if not osp.exists(cached_file):
        sys.stderr.write(f'Downloading: "{url}" to {cached_file}\n')
        hash_prefix = None
        if check_hash:
            match = torch.hub.HASH_REGEX.search(filename)
            hash_prefix = match.group(1) if match else None
        torch.hub.download_url_to_file(
            url, cached_file, hash_prefix, progress=progress)
    return cached_file


def _is_legacy_zip(filename: str) -> bool:
    """A zip that a user made around one torch < 1.6 file (torch.hub
    unpacks those; a torch >= 1.6 checkpoint is a zip of many entries)."""
    if not zipfile.is_zipfile(filename):
        return False
    with zipfile.ZipFile(filename) as archive:
        infolist = archive.infolist()
    return len(infolist) == 1 and not infolist[0].is_dir()


def safe_load_url(url: str,
                  model_dir: Optional[str] = None,
                  map_location=None,
                  progress: bool = False,
                  check_hash: bool = False,
                  file_name: Optional[str] = None):
    """``torch.hub.load_state_dict_from_url`` (same cache, same download),
    unpickled with :func:`safe_torch_load`."""
    cached_file = _hub_cached_file(url, model_dir, progress, check_hash,
                                   file_name)
    if _is_legacy_zip(cached_file):
        with zipfile.ZipFile(cached_file) as archive:
            member = archive.infolist()[0].filename
            archive.extract(member, osp.dirname(cached_file))
        cached_file = osp.join(osp.dirname(cached_file), member)
    return safe_torch_load(
        cached_file,
        map_location=map_location,
        name=f'{url} (cached as {cached_file})')


def load_from_http(filename,
                   map_location=None,
                   model_dir=None,
                   progress=os.isatty(0)):
    """An ``http(s)://`` URL, through the torch hub cache. As mmengine's:
    rank 0 downloads first, the other ranks read the cached file after a
    barrier."""
    from mmengine.dist import get_dist_info
    rank, world_size = get_dist_info()
    if rank == 0:
        checkpoint = safe_load_url(
            filename,
            model_dir=model_dir,
            map_location=map_location,
            progress=progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            checkpoint = safe_load_url(
                filename,
                model_dir=model_dir,
                map_location=map_location,
                progress=progress)
    return checkpoint


def _model_url(table: dict, name: str, scheme: str) -> str:
    if name not in table:
        raise KeyError(
            f'{scheme}{name}: unknown model name; mmengine knows '
            f'{len(table)} {scheme} names, e.g. {sorted(table)[:5]}')
    return table[name]


def load_from_torchvision(filename, map_location=None):
    """``torchvision://NAME`` (or the deprecated ``modelzoo://NAME``): the
    URL from mmengine's torchvision table, then :func:`load_from_http`."""
    from mmengine.logging import print_log
    from mmengine.runner.checkpoint import get_torchvision_models
    if filename.startswith('modelzoo://'):
        print_log(
            'The URL scheme of "modelzoo://" is deprecated, please '
            'use "torchvision://" instead',
            logger='current',
            level=logging.WARNING)
        name, scheme = filename[len('modelzoo://'):], 'modelzoo://'
    else:
        name, scheme = filename[len('torchvision://'):], 'torchvision://'
    url = _model_url(get_torchvision_models(), name, scheme)
    return load_from_http(url, map_location=map_location)


def load_from_openmmlab(filename, map_location=None):
    """``open-mmlab://NAME`` / ``openmmlab://NAME``: a URL (through
    :func:`load_from_http`) or a file under ``$MMENGINE_HOME``."""
    from mmengine.logging import print_log
    from mmengine.runner.checkpoint import (_get_mmengine_home,
                                            get_deprecated_model_names,
                                            get_external_models)
    scheme = 'open-mmlab://' if filename.startswith(
        'open-mmlab://') else 'openmmlab://'
    name = filename[len(scheme):]
    deprecated = get_deprecated_model_names()
    if name in deprecated:
        print_log(
            f'{scheme}{name} is deprecated in favor '
            f'of {scheme}{deprecated[name]}',
            logger='current',
            level=logging.WARNING)
        name = deprecated[name]
    url = _model_url(get_external_models(), name, scheme)
    if url.startswith(('http://', 'https://')):
        return load_from_http(url, map_location=map_location)
    return load_from_local(
        osp.join(_get_mmengine_home(), url), map_location=map_location)


def load_from_mmcls(filename, map_location=None):
    """``mmcls://NAME``: the URL from mmengine's mmcls table, then the
    ``backbone.`` entries of its state dict (as mmengine)."""
    from mmengine.runner.checkpoint import (_process_mmcls_checkpoint,
                                            get_mmcls_models)
    url = _model_url(get_mmcls_models(), filename[len('mmcls://'):],
                     'mmcls://')
    checkpoint = load_from_http(url, map_location=map_location)
    return _process_mmcls_checkpoint(checkpoint)


def load_from_pavi(filename, map_location=None):
    """``pavi://PATH``: downloaded by pavi's model cloud to a temporary
    folder, as mmengine's loader does."""
    if not filename.startswith('pavi://'):
        raise ValueError(
            f'Expected a filename starting with pavi://, got {filename}')
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(
            'Please install pavi to load checkpoint from modelcloud.')
    model = modelcloud.get(filename[len('pavi://'):])
    with TemporaryDirectory() as tmp_dir:
        downloaded_file = osp.join(tmp_dir, model.name)
        model.download(downloaded_file)
        return safe_torch_load(downloaded_file, map_location=map_location,
                               name=f'{filename} ({model.name})')


def load_from_ceph(filename, map_location=None, backend='petrel'):
    """``s3://`` / ``petrel://`` (optionally ``<cluster>:s3://``): the bytes
    from mmengine's file backend."""
    from mmengine.fileio import get_file_backend
    file_backend = get_file_backend(
        filename, backend_args={'backend': backend})
    with io.BytesIO(file_backend.get(filename)) as buffer:
        return safe_torch_load(
            buffer, map_location=map_location, name=filename)


_LOADERS = (
    ('', load_from_local),
    (('http://', 'https://'), load_from_http),
    (('modelzoo://', 'torchvision://'), load_from_torchvision),
    (('open-mmlab://', 'openmmlab://'), load_from_openmmlab),
    ('mmcls://', load_from_mmcls),
    ('pavi://', load_from_pavi),
    ((r'(\S+\:)?s3://', r'(\S+\:)?petrel://'), load_from_ceph),
)


def _refuse_unrouted_schemes(load_checkpoint):
    """Wrap ``CheckpointLoader.load_checkpoint``: a scheme whose loader is
    not one of :data:`_SAFE_LOADERS` (registered by another package after
    ltcls) is refused before anything is read."""

    def checked_load_checkpoint(cls, filename, map_location=None,
                                logger='current'):
        loader = cls._get_checkpoint_loader(filename)
        if loader not in _SAFE_LOADERS:
            where = (f'{getattr(loader, "__module__", "?")}.'
                     f'{getattr(loader, "__qualname__", loader)}')
            raise UnsafeCheckpointError(
                f'Refusing to load checkpoint {filename}: its scheme is '
                f'handled by {where}, which ltcls has not routed through '
                'weights_only loading. Register a loader that reads with '
                'ltcls.utils.safe_load.safe_torch_load via '
                'ltcls.utils.safe_load.register_safe_scheme.')
        return load_checkpoint(filename, map_location, logger)

    checked_load_checkpoint.__wrapped__ = load_checkpoint
    return classmethod(checked_load_checkpoint)


def allow_mmengine_checkpoint_types() -> None:
    """Allow-list mmengine's checkpoint types for ``weights_only`` loading
    and route every scheme of mmengine's ``CheckpointLoader`` through
    :func:`safe_torch_load`. Idempotent."""
    global _ALLOWED
    if _ALLOWED:
        return
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(mmengine_checkpoint_safe_types())
    from mmengine.runner.checkpoint import CheckpointLoader
    for prefixes, loader in _LOADERS:
        register_safe_scheme(prefixes, loader)
    CheckpointLoader.load_checkpoint = _refuse_unrouted_schemes(
        CheckpointLoader.load_checkpoint)
    _ALLOWED = True
