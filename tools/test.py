# Copyright (c) ltcls contributors. All rights reserved.
"""Evaluate a checkpoint (local path) on a config's test set.

Examples:
    python tools/test.py configs/quickstart/resnet32_ce_digits-lt.py \
        work_dirs/resnet32_ce_digits-lt/epoch_30.pth
    tools/dist_test.sh CONFIG CHECKPOINT 8 --out results.json
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ltcls  # noqa: E402,F401  (version checks, safe checkpoint loading)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.model import is_model_wrapper  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from ltcls.utils.checkpoint import check_checkpoint_matches  # noqa: E402
from ltcls.utils.launch import (check_config_path,  # noqa: E402
                                setup_cpu_distributed)
from ltcls.utils.training_state import is_training_only_key  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file (local path)')
    parser.add_argument('--work-dir', help='the dir to save logs and results')
    parser.add_argument(
        '--out', help='write the metrics to this JSON file as well')
    parser.add_argument(
        '--no-strict',
        action='store_true',
        help='load the checkpoint even if keys or shapes do not match')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg = Config.fromfile(check_config_path(args.config))
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    setup_cpu_distributed(cfg)

    runner = Runner.from_cfg(cfg)
    if not args.no_strict:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        # A published checkpoint (tools/model_converters/publish_model.py)
        # has no projector / momentum encoder / queue; predict does not
        # use them, so their absence is fine. Anything else must match.
        check_checkpoint_matches(
            model, args.checkpoint, ignore_missing=is_training_only_key)
    metrics = runner.test()
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({k: float(v) if hasattr(v, '__float__') else v
                       for k, v in metrics.items()}, f, indent=2)
        runner.logger.info(f'metrics written to {args.out}')
    return metrics


if __name__ == '__main__':
    main()
