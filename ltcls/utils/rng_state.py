# Copyright (c) ltcls contributors. All rights reserved.
"""The python ``random``, numpy and torch (CPU and CUDA) RNG states as
plain tensors, so that they go into a checkpoint that still loads with
``torch.load(weights_only=True)``.

``np.random.get_state()`` and ``random.getstate()`` are tuples of python /
numpy objects; pickling them into a checkpoint would need the unsafe
unpickler. Here every state is stored as tensors:

=====================  ====================================================
key                    content
=====================  ====================================================
``python``             int64 (625,): ``random.getstate()[1]`` (624 MT words
                       and the position)
``python_gauss``       float64 (2,): ``[has gauss_next, gauss_next]``
``numpy_keys``         int64 (624,): the MT19937 key of the legacy global
                       ``np.random`` state
``numpy_pos``          int64 (3,): ``[pos, has_gauss, 0]``
``numpy_gauss``        float64 (1,): the cached gaussian
``torch``              uint8: ``torch.get_rng_state()``
``cuda``               uint8 (D, S): ``torch.cuda.get_rng_state_all()``,
                       only when CUDA is initialised
=====================  ====================================================

:func:`stack_rng_states` stacks the states of the W ranks along a new
first dimension (what a checkpoint stores); :func:`rank_rng_state` takes
one rank's back.
"""
import random
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

__all__ = [
    'get_rng_state', 'set_rng_state', 'stack_rng_states', 'rank_rng_state',
    'gather_rng_states', 'derive_seed', 'seed_all'
]

RNGState = Dict[str, torch.Tensor]

_PY_VERSION = 3  # random.getstate()[0] of CPython's Mersenne Twister


def get_rng_state() -> RNGState:
    """This process's RNG states as a dict of tensors (see module doc)."""
    version, words, gauss = random.getstate()
    if version != _PY_VERSION or len(words) != 625:
        raise RuntimeError(
            f'unexpected python random state (version {version}, '
            f'{len(words)} words); expected version 3 with 625 words')
    name, keys, pos, has_gauss, cached = np.random.get_state()
    if name != 'MT19937':
        raise RuntimeError(f'unexpected numpy RNG {name!r}')
    state = {
        'python':
        torch.tensor(words, dtype=torch.int64),
        'python_gauss':
        torch.tensor([gauss is not None, gauss or 0.0], dtype=torch.float64),
        'numpy_keys':
        torch.from_numpy(np.asarray(keys, dtype=np.int64).copy()),
        'numpy_pos':
        torch.tensor([int(pos), int(has_gauss), 0], dtype=torch.int64),
        'numpy_gauss':
        torch.tensor([float(cached)], dtype=torch.float64),
        'torch':
        torch.get_rng_state().clone(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.stack(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: RNGState) -> None:
    """Restore the states returned by :func:`get_rng_state`. A ``cuda``
    entry is restored only where CUDA is available (with as many devices
    as were saved)."""
    words = tuple(int(w) for w in state['python'].tolist())
    has_gauss, gauss = state['python_gauss'].tolist()
    random.setstate((_PY_VERSION, words, gauss if has_gauss else None))
    pos, np_has_gauss, _ = state['numpy_pos'].tolist()
    np.random.set_state(
        ('MT19937', state['numpy_keys'].numpy().astype(np.uint32), int(pos),
         int(np_has_gauss), float(state['numpy_gauss'][0])))
    torch.set_rng_state(state['torch'].to(torch.uint8).cpu())
    cuda = state.get('cuda', None)
    if cuda is not None and torch.cuda.is_available():
        if cuda.shape[0] != torch.cuda.device_count():
            raise ValueError(
                f'the saved CUDA RNG states are for {cuda.shape[0]} '
                f'devices, this process sees {torch.cuda.device_count()}')
        torch.cuda.set_rng_state_all(list(cuda.to(torch.uint8).cpu()))


def stack_rng_states(states: Sequence[RNGState]) -> RNGState:
    """Stack per-rank states (rank r at index r of every entry). Entries
    that not every rank has (``cuda``) are dropped."""
    keys = set(states[0])
    for s in states[1:]:
        keys &= set(s)
    return {k: torch.stack([s[k].cpu() for s in states]) for k in keys}


def gather_rng_states() -> RNGState:
    """:func:`stack_rng_states` of every rank's :func:`get_rng_state`,
    gathered to all ranks (a collective call; one ``all_gather`` per entry,
    tensors only, so that any backend takes them)."""
    from mmengine.dist import all_gather, get_world_size
    state = get_rng_state()
    if get_world_size() == 1:
        return stack_rng_states([state])
    return {
        k: torch.stack([t.cpu() for t in all_gather(state[k])])
        for k in sorted(state)
    }


def rank_rng_state(stacked: RNGState, rank: int) -> Optional[RNGState]:
    """Rank ``rank``'s entry of :func:`stack_rng_states`' result, or None if
    the checkpoint holds fewer ranks."""
    num = stacked['torch'].shape[0]
    if rank >= num:
        return None
    return {k: v[rank] for k, v in stacked.items()}


def derive_seed(*values: int) -> int:
    """A 32-bit seed that depends on all ``values`` (e.g. ``seed, epoch``),
    through numpy's ``SeedSequence`` (well mixed: neighbouring inputs give
    unrelated streams)."""
    entropy: List[int] = [int(v) % (1 << 63) for v in values]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def seed_all(seed: int) -> None:
    """Seed python ``random``, numpy's global RNG and torch (CPU and every
    CUDA device) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
