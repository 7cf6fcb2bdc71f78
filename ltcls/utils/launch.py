# Copyright (c) ltcls contributors. All rights reserved.
"""Helpers shared by tools/train.py and tools/test.py."""
import os
import warnings
import os.path as osp

import torch
import torch.distributed as torch_dist


def check_config_path(path: str) -> str:
    """Raise a clear error if a config file does not exist."""
    if not osp.isfile(path):
        hint = ''
        if not path.endswith('.py'):
            hint = ' (configs are .py files)'
        raise FileNotFoundError(f'config file not found: {path}{hint}. Run '
                                'from the repository root or give a path '
                                'relative to it, e.g. '
                                'configs/quickstart/resnet32_ce_digits-lt.py')
    return path


def setup_cpu_distributed(cfg) -> bool:
    """Make ``--launcher pytorch`` work on machines without CUDA.

    mmengine 0.10.7 always calls ``torch.cuda.set_device(LOCAL_RANK)`` and
    wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail on a
    CPU-only machine. When CUDA is absent this initialises the process group
    with gloo first (mmengine then skips its own ``init_dist``) and makes
    DDP run on the CPU (``device_ids=None``). With CUDA present nothing
    changes, so the same command works on a laptop, a GPU server or a
    cluster.

    Returns:
        bool: whether the CPU/gloo path was taken.
    """
    # slurm / mpi launchers are for GPU clusters; mmengine handles them.
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    if not torch_dist.is_initialized():
        missing = [
            k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
            if k not in os.environ
        ]
        if missing:
            raise RuntimeError(
                f'--launcher {cfg.launcher} needs the environment variables '
                f'{missing}; start the job with tools/dist_train.sh (torchrun)')
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout')
        kwargs = {}
        if timeout is not None:
            import datetime
            kwargs['timeout'] = datetime.timedelta(seconds=timeout)
        torch_dist.init_process_group(backend='gloo', **kwargs)
    if cfg.get('env_cfg', None) is None:
        cfg.env_cfg = dict()
    if cfg.env_cfg.get('dist_cfg', None) is None:
        cfg.env_cfg.dist_cfg = dict()
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg['device_ids'] = None
    # SyncBN has no CPU implementation (DDP refuses SyncBatchNorm on CPU
    # modules); plain BN is used instead, as mmengine does on one process.
    # Statistics are then per process: a multi-process CPU run is a smoke
    # test of the launch path, not a reproduction of a GPU run.
    if cfg.get('sync_bn', None):
        cfg.sync_bn = None
    replaced = replace_sync_bn(cfg.get('model', {}))
    if replaced:
        # the Runner's logger does not exist yet
        warnings.warn(
            f'CUDA is absent: {replaced} SyncBN norm layer config(s) in the '
            "model use plain 'BN' in this run (SyncBN needs GPUs)")
    return True


#: norm layer types that only run on GPUs (torch, mmcv and mmengine names)
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'SyncBatchNorm', 'TorchSyncBN')


def replace_sync_bn(node) -> int:
    """Replace, in place, every ``dict(type=<SyncBN>)`` under ``node`` (a
    model config: nested dicts and lists) by ``type='BN'``.

    Returns:
        int: how many norm configs were changed.
    """
    count = 0
    if isinstance(node, dict):
        if node.get('type') in SYNC_BN_TYPES:
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += replace_sync_bn(value)
    return count
