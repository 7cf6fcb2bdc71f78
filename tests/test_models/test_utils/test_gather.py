# Copyright (c) ltcls contributors. All rights reserved.
"""all_gather_with_grad / concat_all_gather / rank_offset, 1 and 2 ranks."""
import torch

from ltcls.models.utils import (all_gather_with_grad, concat_all_gather,
                                rank_offset, world_info)
from ltcls.testing import run_distributed

# rank r holds SIZES[r] rows (unequal on purpose)
SIZES = (3, 2)


def _global_inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(sum(SIZES), 4, generator=g, dtype=torch.float64)
    # a different weighting of the gathered tensor on every rank
    w = torch.randn(
        len(SIZES), sum(SIZES), 4, generator=g, dtype=torch.float64)
    labels = torch.arange(sum(SIZES)) * 10
    return x, w, labels


def _dist_gather(rank, world_size):
    x, w, labels = _global_inputs()
    start = sum(SIZES[:rank])
    local = x[start:start + SIZES[rank]].clone().requires_grad_(True)
    gathered = all_gather_with_grad(local)
    (gathered * w[rank]).sum().backward()
    return dict(
        info=torch.tensor(world_info()),
        gathered=gathered.detach(),
        grad=local.grad,
        labels=concat_all_gather(labels[start:start + SIZES[rank]]),
        offset=torch.tensor(rank_offset(SIZES[rank])))


def test_single_process_identity():
    x = torch.randn(3, 2, requires_grad=True)
    assert all_gather_with_grad(x) is x
    assert concat_all_gather(x) is x
    assert rank_offset(3) == 0
    assert world_info() == (0, 1)


def test_two_process_gather_and_exact_backward():
    x, w, labels = _global_inputs()
    results = run_distributed(_dist_gather, 2)
    for rank, res in enumerate(results):
        start = sum(SIZES[:rank])
        assert res['info'].tolist() == [rank, 2]
        torch.testing.assert_close(res['gathered'], x, rtol=0, atol=0)
        assert torch.equal(res['labels'], labels)
        assert int(res['offset']) == start
        # d/dx_local of sum_r (gathered * w[r]).sum(): the gradients that
        # *all* ranks' losses send to this rank's rows (summed), not only
        # this rank's own (mmpretrain's GatherLayer keeps only the latter).
        expected = w.sum(0)[start:start + SIZES[rank]]
        torch.testing.assert_close(res['grad'], expected, rtol=0, atol=1e-12)
