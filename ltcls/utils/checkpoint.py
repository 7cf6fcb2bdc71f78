# Copyright (c) ltcls contributors. All rights reserved.
"""Checkpoint checks with clear errors."""
import hashlib
from typing import Callable, Dict, Optional

import torch
from torch import nn

from .safe_load import allow_mmengine_checkpoint_types


def sha256sum(filename: str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file (read in chunks): the model-zoo file suffix of
    publish_model.py and the ``source_sha256`` of the converters."""
    digest = hashlib.sha256()
    with open(filename, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's weights do not fit the model built from a config."""


def load_state_dict_from_file(filename: str) -> Dict[str, torch.Tensor]:
    """Read the ``state_dict`` of an mmengine checkpoint (or a bare one).

    Any scheme mmengine's ``CheckpointLoader`` knows (local path,
    ``https://``, ``torchvision://``, ...) is read with ltcls's safe
    loaders (``weights_only=True``, see :mod:`ltcls.utils.safe_load`)."""
    from mmengine.runner.checkpoint import _load_checkpoint
    allow_mmengine_checkpoint_types()
    ckpt = _load_checkpoint(filename, map_location='cpu', logger='silent')
    if not isinstance(ckpt, dict):
        raise CheckpointMismatchError(
            f'{filename} holds a {type(ckpt).__name__}, not a checkpoint dict')
    state = ckpt.get('state_dict', ckpt)
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointMismatchError(
            f'{filename} has no state_dict of tensors (keys: '
            f'{sorted(ckpt)[:10]})')
    return state


def check_checkpoint_matches(
        model: nn.Module,
        filename: str,
        max_listed: int = 8,
        ignore_missing: Optional[Callable[[str], bool]] = None,
        hint: Optional[str] = None) -> None:
    """Raise :class:`CheckpointMismatchError` if ``filename`` cannot be
    loaded strictly into ``model``: missing keys, unexpected keys or a shape
    difference (e.g. a head trained for another ``num_classes``).

    ``ignore_missing(key)`` may accept some model keys being absent from the
    checkpoint, e.g. :func:`ltcls.utils.training_state.is_training_only_key`
    for a published checkpoint without the projector / momentum encoder /
    queue that inference does not use. ``hint`` is appended to the error
    message (e.g. the config switch that allows a partial load)."""
    state = load_state_dict_from_file(filename)
    state = {k[7:] if k.startswith('module.') else k: v
             for k, v in state.items()}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    if ignore_missing is not None:
        missing = [k for k in missing if not ignore_missing(k)]
    unexpected = sorted(set(state) - set(own))
    shapes = [(k, tuple(state[k].shape), tuple(own[k].shape))
              for k in sorted(set(own) & set(state))
              if state[k].shape != own[k].shape]
    if not (missing or unexpected or shapes):
        return
    lines = [f'checkpoint {filename} does not match the model '
             f'{type(model).__name__} built from the config:']
    if shapes:
        lines.append('  shape mismatch (checkpoint vs model): ' + ', '.join(
            f'{k} {a} vs {b}' for k, a, b in shapes[:max_listed]))
    if missing:
        lines.append(f'  {len(missing)} missing key(s), e.g. '
                     f'{missing[:max_listed]}')
    if unexpected:
        lines.append(f'  {len(unexpected)} unexpected key(s), e.g. '
                     f'{unexpected[:max_listed]}')
    lines.append('  Is it the checkpoint of this config (same backbone, '
                 'num_classes and method)?')
    if hint:
        lines.append(hint)
    raise CheckpointMismatchError('\n'.join(lines))
