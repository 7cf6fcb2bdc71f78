# Copyright (c) ltcls contributors. All rights reserved.
"""Cross-rank gathering for contrastive losses.

Why not mmpretrain's ``GatherLayer`` (``mmpretrain/models/selfsup/simclr.py``)?
Its backward keeps only ``grads[rank]``, the gradient that *this* rank's loss
sends to *this* rank's features, and drops what the other ranks' losses send
to them. With DDP averaging parameter gradients, the result is not the
gradient of the global-batch loss. :class:`AllGatherWithGrad` sums the
feature gradients of all ranks (``all_reduce``) before slicing, so a
W-process run of a loss equals the 1-process run on the same global batch,
loss and gradients alike. It also copes with unequal per-rank batch sizes.
"""
from typing import Any, List, Tuple

import torch
import torch.distributed as dist


def dist_ready() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_info() -> Tuple[int, int]:
    """(rank, world_size); (0, 1) when not distributed."""
    if not dist_ready():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def _gather_sizes(n: int, device) -> List[int]:
    _, world = world_info()
    size = torch.tensor([n], device=device, dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    return [int(s.item()) for s in sizes]


def _padded_all_gather(x: torch.Tensor, sizes: List[int]) -> torch.Tensor:
    max_n = max(sizes)
    if x.shape[0] < max_n:
        pad = x.new_zeros((max_n - x.shape[0], ) + tuple(x.shape[1:]))
        x = torch.cat([x, pad], dim=0)
    out = [torch.empty_like(x) for _ in sizes]
    dist.all_gather(out, x.contiguous())
    return torch.cat([o[:n] for o, n in zip(out, sizes)], dim=0)


class AllGatherWithGrad(torch.autograd.Function):
    """Concatenate a tensor from all ranks along dim 0, with exact backward.

    Forward: (n_r, ...) on each rank -> (sum_r n_r, ...) on every rank.
    Backward: the incoming gradient is summed over ranks and this rank's
    rows are returned.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        rank, _ = world_info()
        sizes = _gather_sizes(x.shape[0], x.device)
        ctx.rank_slice = (sum(sizes[:rank]), sum(sizes[:rank + 1]))
        return _padded_all_gather(x, sizes)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start, end = ctx.rank_slice
        return grad[start:end]


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Gather ``x`` (N_r, ...) from all ranks into (sum N_r, ...), keeping
    gradients exact (see module docstring). Identity on one process."""
    if not dist_ready() or dist.get_world_size() == 1:
        return x
    return AllGatherWithGrad.apply(x)


@torch.no_grad()
def concat_all_gather(x: torch.Tensor) -> torch.Tensor:
    """Gather ``x`` (N_r, ...) from all ranks into (sum N_r, ...), no
    gradient (keys for a queue, labels, indices). Identity on one process."""
    if not dist_ready() or dist.get_world_size() == 1:
        return x
    sizes = _gather_sizes(x.shape[0], x.device)
    return _padded_all_gather(x, sizes)


def rank_offset(n_local: int, device=None) -> int:
    """Row index of this rank's first sample in the gathered batch."""
    if not dist_ready() or dist.get_world_size() == 1:
        return 0
    rank, _ = world_info()
    sizes = _gather_sizes(n_local, device or torch.device('cpu'))
    return sum(sizes[:rank])
