"""RNG states as plain tensors: exact round trip, weights_only loading,
per-rank stacking (also gathered over 2 gloo ranks)."""
import io
import random

import numpy as np
import torch

from ltcls.testing import run_distributed
from ltcls.utils.rng_state import (derive_seed, gather_rng_states,
                                   get_rng_state,
                                   rank_rng_state, seed_all, set_rng_state,
                                   stack_rng_states)


def _draw():
    return (random.random(), random.gauss(0, 1), np.random.rand(3).tolist(),
            np.random.randn(2).tolist(), torch.rand(4).tolist(),
            torch.randn(2).tolist())


def test_round_trip_through_weights_only_checkpoint():
    seed_all(3)
    _draw()
    random.gauss(0, 1)  # leaves a cached gaussian in python's state
    np.random.randn(1)  # ... and in numpy's (has_gauss)
    state = stack_rng_states([get_rng_state()])
    expected = _draw()
    buf = io.BytesIO()
    torch.save({'rng_state': state}, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)['rng_state']
    seed_all(99)
    _draw()
    set_rng_state(rank_rng_state(loaded, 0))
    assert _draw() == expected
    assert all(isinstance(v, torch.Tensor) for v in loaded.values())


def test_rank_rng_state_beyond_saved_ranks_is_none():
    state = stack_rng_states([get_rng_state(), get_rng_state()])
    assert state['torch'].shape[0] == 2
    assert rank_rng_state(state, 1) is not None
    assert rank_rng_state(state, 2) is None


def test_derive_seed_depends_on_every_value():
    seeds = {derive_seed(0, e) for e in range(100)}
    assert len(seeds) == 100
    assert derive_seed(0, 1) == derive_seed(0, 1)
    assert derive_seed(0, 1) != derive_seed(1, 0)


def _gather(rank, world_size):
    seed_all(100 + rank)
    mine = get_rng_state()
    stacked = gather_rng_states()
    return {k: v.clone() for k, v in mine.items()}, stacked


def test_gather_keeps_every_rank_state():
    results = run_distributed(_gather, 2)
    mine0, stacked = results[0]
    mine1, _ = results[1]
    for k in mine0:
        assert torch.equal(stacked[k][0], mine0[k])
        assert torch.equal(stacked[k][1], mine1[k])
    assert not torch.equal(stacked['torch'][0], stacked['torch'][1])
