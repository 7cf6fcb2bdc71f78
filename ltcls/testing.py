# Copyright (c) ltcls contributors. All rights reserved.
"""Test helpers: run a function on W CPU processes with a gloo group.

Example:
    >>> def fn(rank, world_size, x):
    ...     return x * (rank + 1)
    >>> run_distributed(fn, 2, torch.ones(2))   # [tensor([1,1]), tensor([2,2])]
"""
import os
import socket
import tempfile
import traceback

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _worker(rank, world_size, port, out_dir, fn, args, kwargs):
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    os.environ['RANK'] = str(rank)
    os.environ['LOCAL_RANK'] = str(rank)
    os.environ['WORLD_SIZE'] = str(world_size)
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo', rank=rank, world_size=world_size,
        init_method=f'tcp://127.0.0.1:{port}')
    try:
        result = fn(rank, world_size, *args, **kwargs)
        torch.save({'ok': True, 'result': result},
                   os.path.join(out_dir, f'{rank}.pt'))
    except BaseException:  # report the traceback to the parent
        torch.save({'ok': False, 'error': traceback.format_exc()},
                   os.path.join(out_dir, f'{rank}.pt'))
        raise
    finally:
        dist.destroy_process_group()


def run_distributed(fn, world_size: int, *args, **kwargs) -> list:
    """Run ``fn(rank, world_size, *args, **kwargs)`` on ``world_size``
    spawned CPU processes joined by a gloo process group; return the list
    of per-rank return values (which must be torch-saveable with
    ``weights_only=True``: tensors, numbers, strings, containers).

    ``fn`` must be importable (a module-level function)."""
    with tempfile.TemporaryDirectory() as out_dir:
        port = free_port()
        try:
            mp.spawn(
                _worker,
                args=(world_size, port, out_dir, fn, args, kwargs),
                nprocs=world_size,
                join=True)
        except Exception as e:
            errors = []
            for r in range(world_size):
                p = os.path.join(out_dir, f'{r}.pt')
                if os.path.exists(p):
                    res = torch.load(p, weights_only=True)
                    if not res['ok']:
                        errors.append(f'rank {r}:\n{res["error"]}')
            raise RuntimeError('distributed run failed:\n' +
                               '\n'.join(errors)) from e
        results = []
        for r in range(world_size):
            res = torch.load(
                os.path.join(out_dir, f'{r}.pt'), weights_only=True)
            results.append(res['result'])
        return results
