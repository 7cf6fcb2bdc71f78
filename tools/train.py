# Copyright (c) ltcls contributors. All rights reserved.
"""Train a model (ltcls, mmpretrain or mmdet config) with mmengine's Runner.

Examples:
    python tools/train.py configs/quickstart/resnet32_ce_digits-lt.py
    tools/dist_train.sh configs/rescom/r50_imagenet_lt.py 8
    # also log to TensorBoard (needs `pip install tensorboard`)
    python tools/train.py CONFIG --tensorboard
    tensorboard --logdir work_dirs/CONFIG_STEM
"""
import argparse
import importlib
import os
import os.path as osp
import sys
from copy import deepcopy

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ltcls  # noqa: E402,F401  (version checks, safe checkpoint loading)
import torch  # noqa: E402
from mmengine.config import Config, ConfigDict, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from ltcls.utils.launch import (check_config_path,  # noqa: E402
                                setup_cpu_distributed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='whether not to evaluate the checkpoint during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual / base batch size')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable the pin_memory option in dataloaders')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='disable the persistent_workers option in dataloaders')
    parser.add_argument(
        '--tensorboard',
        action='store_true',
        help='also write the scalars (losses, lr, metrics) as TensorBoard '
        'event files under <work_dir>/<timestamp>/vis_data (appends '
        'TensorboardVisBackend to visualizer.vis_backends; needs `pip '
        'install tensorboard`)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs, e.g. '
        'train_cfg.max_epochs=2 model.head.num_classes=10')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch >= 2.0's launchers pass `--local-rank`; older ones `--local_rank`.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


TENSORBOARD_BACKEND = 'TensorboardVisBackend'


def _is_tensorboard_backend(backend) -> bool:
    btype = backend.get('type', '') if isinstance(backend, dict) else ''
    if not isinstance(btype, str):
        btype = getattr(btype, '__name__', '')
    return btype.split('.')[-1] == TENSORBOARD_BACKEND


def add_tensorboard_backend(cfg):
    """Append ``TensorboardVisBackend`` to ``cfg.visualizer.vis_backends``
    (once; a visualizer with a ``LocalVisBackend`` is created if the config
    has none)."""
    if cfg.get('visualizer', None) is None:
        cfg.visualizer = dict(
            type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
    backends = list(cfg.visualizer.get('vis_backends', None) or [])
    if not any(_is_tensorboard_backend(b) for b in backends):
        backends.append(dict(type=TENSORBOARD_BACKEND))
    cfg.visualizer.vis_backends = backends
    return cfg


def tensorboard_available() -> bool:
    """Whether ``torch.utils.tensorboard`` (the writer mmengine's
    ``TensorboardVisBackend`` uses) can be imported."""
    try:
        importlib.import_module('torch.utils.tensorboard')
    except ImportError:
        return False
    return True


def check_vis_backends(cfg) -> None:
    """Fail early and clearly if the config asks for TensorBoard but it is
    not installed (mmengine would only fail at the first logged scalar)."""
    visualizer = cfg.get('visualizer', None) or {}
    backends = visualizer.get('vis_backends', None) or []
    if any(_is_tensorboard_backend(b) for b in backends) \
            and not tensorboard_available():
        raise ImportError(
            'TensorboardVisBackend is enabled (--tensorboard or the config) '
            'but TensorBoard is not installed: run `pip install tensorboard` '
            '(inside .venv), or train without --tensorboard')


def merge_args(cfg, args):
    """Merge CLI arguments into the config."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    cfg.launcher = args.launcher

    # work_dir priority: CLI > config > ./work_dirs/<config stem>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if getattr(args, 'tensorboard', False):
        add_tensorboard_backend(cfg)

    if args.amp is True:
        if not torch.cuda.is_available():
            # mmengine's AmpOptimWrapper asserts deep inside Runner.build;
            # say it here, before anything is built.
            raise RuntimeError(
                '--amp needs a GPU: mmengine 0.10.7\'s AmpOptimWrapper only '
                'trains on gpu/npu/mlu/musa devices, and CUDA is not '
                'available here. Train without --amp on the CPU.')
        # keep the divergence guard of default_runtime.py's wrapper
        cfg.optim_wrapper.type = 'GuardedAmpOptimWrapper' if \
            cfg.optim_wrapper.get('type') == 'GuardedOptimWrapper' \
            else 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume checkpoint not found: {args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise KeyError('--auto-scale-lr needs `auto_scale_lr = dict('
                           'base_batch_size=...)` in the config')
        cfg.auto_scale_lr.enable = True

    default_dataloader_cfg = ConfigDict(
        # pinned memory only helps host-to-GPU copies
        pin_memory=torch.cuda.is_available(),
        persistent_workers=True,
        collate_fn=dict(type='default_collate'),
    )

    def set_default_dataloader_cfg(cfg, field):
        if cfg.get(field, None) is None:
            return
        dataloader_cfg = deepcopy(default_dataloader_cfg)
        dataloader_cfg.update(cfg[field])
        if dataloader_cfg.get('num_workers', 0) == 0:
            dataloader_cfg['persistent_workers'] = False
        cfg[field] = dataloader_cfg
        if args.no_pin_memory:
            cfg[field]['pin_memory'] = False
        if args.no_persistent_workers:
            cfg[field]['persistent_workers'] = False

    # Detection configs bring their own collate function (pseudo_collate).
    if cfg.get('default_scope', None) in (None, 'ltcls', 'mmpretrain'):
        set_default_dataloader_cfg(cfg, 'train_dataloader')
        set_default_dataloader_cfg(cfg, 'val_dataloader')
        set_default_dataloader_cfg(cfg, 'test_dataloader')

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(check_config_path(args.config))
    cfg = merge_args(cfg, args)
    check_vis_backends(cfg)
    setup_cpu_distributed(cfg)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        # ltcls's registry finds ltcls runners (the default runtime's
        # CheckedRunner) and, through its parents, mmengine's; the root one
        # only sees ltcls's when a default scope is already set.
        from ltcls.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
