# Copyright (c) ltcls contributors. All rights reserved.
"""Crash-safe file writes: a file is either its old content or its new
content, never a half-written one.

:func:`atomic_write_bytes` writes to a temporary file in the same folder,
flushes and fsyncs it, ``os.replace``s it onto the target (atomic on POSIX
and Windows within one file system) and fsyncs the folder so that the
rename survives a power loss. :class:`AtomicLocalBackend` is mmengine's
``LocalBackend`` whose ``put`` / ``put_text`` do that; it is registered as
the file backend ``'ltcls_atomic_local'``, which
:class:`ltcls.engine.hooks.AtomicCheckpointHook` saves checkpoints with.

Test-only switch: ``LTCLS_TEST_STALL_CKPT_WRITE=<seconds>[:<glob>]`` makes
the writer stall for ``<seconds>`` after writing (and fsyncing) the first
half of a file whose base name matches ``<glob>`` (every file if omitted),
so a test can kill a real training process in the middle of a checkpoint
write deterministically. It prints one line starting with
:data:`STALL_MESSAGE` to stderr when it starts stalling.
"""
import fnmatch
import os
import os.path as osp
import re
import sys
import time
from typing import List, Optional, Union

from mmengine.fileio import LocalBackend, register_backend

__all__ = [
    'atomic_write_bytes', 'AtomicLocalBackend', 'ATOMIC_BACKEND',
    'temp_path_for', 'stale_temp_files', 'STALL_ENV', 'STALL_MESSAGE'
]

#: The name of :class:`AtomicLocalBackend` in mmengine's backend registry.
ATOMIC_BACKEND = 'ltcls_atomic_local'
#: The test-only stall switch (see the module doc).
STALL_ENV = 'LTCLS_TEST_STALL_CKPT_WRITE'
#: The first words of the stderr line printed when the writer stalls.
STALL_MESSAGE = 'ltcls: stalling the write of'

_TEMP_RE = re.compile(r'^\.(?P<target>.+)\.tmp-(?P<pid>\d+)$')


def temp_path_for(path: str) -> str:
    """The temporary file :func:`atomic_write_bytes` writes ``path`` to:
    ``.<name>.tmp-<pid>`` in the same folder (so ``os.replace`` stays on
    one file system; hidden, so ``*.pth`` globs do not see it)."""
    folder, name = osp.split(osp.abspath(path))
    return osp.join(folder, f'.{name}.tmp-{os.getpid()}')


def stale_temp_files(folder: str) -> List[str]:
    """Temporary files that a killed writer left in ``folder``."""
    if not osp.isdir(folder):
        return []
    return sorted(
        osp.join(folder, name) for name in os.listdir(folder)
        if _TEMP_RE.match(name) and osp.isfile(osp.join(folder, name)))


def _stall_seconds(path: str) -> Optional[float]:
    """The test-only stall for ``path`` (None: no stall)."""
    value = os.environ.get(STALL_ENV, '').strip()
    if not value:
        return None
    seconds, _, pattern = value.partition(':')
    try:
        seconds = float(seconds)
    except ValueError:
        raise ValueError(
            f'{STALL_ENV}={value!r}: expected <seconds>[:<glob>], e.g. '
            '"60:epoch_2.pth"') from None
    if pattern and not fnmatch.fnmatch(osp.basename(path), pattern):
        return None
    return seconds


def _fsync_dir(folder: str) -> None:
    """Make a rename inside ``folder`` durable (POSIX; a no-op where
    folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(data: bytes, path: Union[str, os.PathLike]) -> None:
    """Write ``data`` to ``path`` atomically (see the module doc). The
    folder is created if needed; on any error the temporary file is
    removed and ``path`` keeps its old content (or stays absent)."""
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = temp_path_for(path)
    stall = _stall_seconds(path)
    try:
        with open(tmp, 'wb') as f:
            if stall is None:
                f.write(data)
            else:
                half = len(data) // 2
                f.write(data[:half])
                f.flush()
                os.fsync(f.fileno())
                sys.stderr.write(f'{STALL_MESSAGE} {path} ({half} of '
                                 f'{len(data)} bytes in {tmp}) for '
                                 f'{stall} s ({STALL_ENV})\n')
                sys.stderr.flush()
                time.sleep(stall)
                f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(folder)


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose writes are atomic
    (:func:`atomic_write_bytes`). Reading, listing and removing are
    unchanged."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)
