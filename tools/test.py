# Copyright (c) ltcls contributors. All rights reserved.
"""Evaluate a checkpoint (local path) on a config's test set.

The options are those of mmpretrain's ``tools/test.py`` (``--out``
predictions pickle, ``--out-item``, ``--show``/``--show-dir``, ``--tta``,
``--amp``, ``--launcher``), so mmpretrain's analysis tools
(``analyze_results.py``, ``confusion_matrix.py``, ``eval_metric.py``) read
its output; plus ltcls's checkpoint check (``--no-strict`` skips it) and
``--out-metrics`` (the metrics, many / medium / few-shot included, as JSON).

Examples:
    python tools/test.py configs/quickstart/resnet32_ce_digits-lt.py \
        work_dirs/resnet32_ce_digits-lt/epoch_30.pth --out preds.pkl \
        --out-metrics metrics.json
    tools/dist_test.sh CONFIG CHECKPOINT 8 --out-metrics metrics.json
"""
import argparse
import json
import os
import os.path as osp
import sys
from copy import deepcopy

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ltcls  # noqa: E402,F401  (version checks, safe checkpoint loading)
import mmengine  # noqa: E402
from mmengine.config import Config, ConfigDict, DictAction  # noqa: E402
from mmengine.evaluator import DumpResults  # noqa: E402
from mmengine.model import BaseTTAModel, is_model_wrapper  # noqa: E402
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
        '--out',
        help="the file to output results to (mmpretrain's): the "
        'predictions pickle (.pkl), or with --out-item metrics the metrics')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='what --out holds: the predictions (default) or the metrics')
    parser.add_argument(
        '--out-metrics',
        help='write the metrics (many / medium / few-shot included) to this '
        'JSON file')
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
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--show-dir',
        help='save the images with their predictions to this folder')
    parser.add_argument(
        '--show', action='store_true', help='show the predicted images')
    parser.add_argument(
        '--interval', type=int, default=1,
        help='visualise every INTERVAL-th sample')
    parser.add_argument(
        '--wait-time', type=float, default=2,
        help='seconds each shown image stays (--show)')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='do not pin the test dataloader memory')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: the config\'s `tta_pipeline` / '
        '`tta_model` if it has them, else flip TTA averaging the scores '
        '(as mmpretrain)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    check_out_args(args)
    return args


def check_out_args(args):
    """``--out`` is mmpretrain's now (a predictions pickle); it used to be
    the metrics JSON, which is ``--out-metrics``."""
    if args.out is None and args.out_item is not None:
        raise ValueError('Please use `--out` argument to specify the path of '
                         'the output file before using `--out-item`.')
    if args.out and args.out_item in ('pred', None) and not args.out.endswith(
            ('.pkl', '.pickle')):
        raise ValueError(
            f'--out {args.out}: the predictions are written as a pickle '
            '(.pkl), as by mmpretrain\'s tools/test.py; for the metrics JSON '
            f'use --out-metrics {args.out} (or --out-item metrics)')


def merge_test_args(cfg, args):
    """mmpretrain's ``merge_args`` for what ltcls's defaults do not set:
    AMP, visualisation, TTA, the test dataloader's defaults."""
    if args.amp:
        cfg.test_cfg = cfg.get('test_cfg', None) or ConfigDict()
        cfg.test_cfg.fp16 = True
    if args.show or args.show_dir is not None:
        vis = cfg.get('default_hooks', {}).get('visualization', None)
        if vis is None:
            raise KeyError('--show / --show-dir need a VisualizationHook: '
                           'default_hooks.visualization is not set in '
                           f'{args.config}')
        vis.update(
            enable=True,
            show=args.show,
            wait_time=args.wait_time,
            out_dir=args.show_dir,
            interval=args.interval)
    if args.tta:
        if 'tta_model' not in cfg:
            cfg.tta_model = dict(type='AverageClsScoreTTA')
        if 'tta_pipeline' not in cfg:
            test_pipeline = cfg.test_dataloader.dataset.pipeline
            cfg.tta_pipeline = deepcopy(test_pipeline)
            cfg.tta_pipeline[-1] = dict(
                type='TestTimeAug',
                transforms=[[
                    dict(type='RandomFlip', prob=1.),
                    dict(type='RandomFlip', prob=0.)
                ], [test_pipeline[-1]]])
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    # mmpretrain's test dataloader defaults, for classification configs
    # (mmdet's detection configs need their own pseudo_collate)
    if cfg.get('test_dataloader', None) is not None and cfg.get(
            'default_scope', None) in ('ltcls', 'mmpretrain'):
        loader = ConfigDict(
            pin_memory=True, collate_fn=dict(type='default_collate'))
        loader.update(cfg.test_dataloader)
        if args.no_pin_memory:
            loader.pin_memory = False
        cfg.test_dataloader = loader
    return cfg


def write_metrics_json(metrics, filename, logger):
    with open(filename, 'w') as f:
        json.dump({k: float(v) if hasattr(v, '__float__') else v
                   for k, v in metrics.items()}, f, indent=2)
    logger.info(f'metrics written to {filename}')


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg = Config.fromfile(check_config_path(args.config))
    cfg.launcher = args.launcher
    cfg = merge_test_args(cfg, args)
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
        if isinstance(model, BaseTTAModel):
            model = model.module
        # A published checkpoint (tools/model_converters/publish_model.py)
        # has no projector / momentum encoder / queue; predict does not
        # use them, so their absence is fine. Anything else must match.
        check_checkpoint_matches(
            model, args.checkpoint, ignore_missing=is_training_only_key)
    if args.out and args.out_item in ('pred', None):
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    metrics = runner.test()
    if args.out and args.out_item == 'metrics':
        mmengine.dump(metrics, args.out)
    if args.out_metrics:
        write_metrics_json(metrics, args.out_metrics, runner.logger)
    return metrics


if __name__ == '__main__':
    main()
