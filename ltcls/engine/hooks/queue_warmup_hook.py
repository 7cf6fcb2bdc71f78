# Copyright (c) ltcls contributors. All rights reserved.
"""Fill a labelled key queue before training (KCL's ``init_key_queue``).

The official KCL code runs ``K / B`` training batches forward before epoch 0
with no momentum update and no optimiser step, only to fill the key queue
and its labels (spec_kcl.md §3, §9.5). Without it the first thousands of
steps contrast against an empty (ltcls: masked) or random (official code)
memory and have no queue positives at all.
"""
import math
from typing import Optional

import torch
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from ltcls.registry import HOOKS

__all__ = ['QueueWarmupHook']


@HOOKS.register_module()
class QueueWarmupHook(Hook):
    """Fill ``model.queue`` from the training data before the first step.

    For ``ceil(empty_slots / global_batch)`` batches of the train
    dataloader, the hook runs the data preprocessor and
    ``model.fill_queue(inputs, data_samples)`` under ``no_grad`` with the
    model in train mode (BN statistics update, as in the official code). No
    optimiser step, no momentum update, no scheduler or iteration counter
    change. A queue that is already full (resumed or loaded checkpoint) is
    left alone.

    Args:
        enabled (bool): Defaults to True.
        max_batches (int, optional): Cap on the number of batches. Defaults
            to None (as many as needed to fill the queue).
    """

    priority = 'LOW'

    def __init__(self,
                 enabled: bool = True,
                 max_batches: Optional[int] = None):
        if max_batches is not None and int(max_batches) < 1:
            raise ValueError('QueueWarmupHook: max_batches must be >= 1, got '
                             f'{max_batches}')
        self.enabled = enabled
        self.max_batches = max_batches

    def before_train(self, runner) -> None:
        if not self.enabled:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        queue = getattr(model, 'queue', None)
        if queue is None or not hasattr(model, 'fill_queue'):
            raise TypeError(
                f'QueueWarmupHook needs a model with a `queue` and a '
                f'`fill_queue` method (e.g. ContrastiveClassifier with '
                f'queue=...); {type(model).__name__} has none')
        empty = queue.length - queue.num_filled()
        if empty == 0:
            print_log(
                'QueueWarmupHook: queue already full (resumed or '
                'loaded), nothing to do',
                logger='current')
            return
        dataloader = runner.train_dataloader
        batch_size = dataloader.batch_size or getattr(
            getattr(dataloader, 'batch_sampler', None), 'batch_size', None)
        if batch_size:
            num_batches = math.ceil(empty / (batch_size * get_world_size()))
            if self.max_batches is not None:
                num_batches = min(num_batches, int(self.max_batches))
        elif self.max_batches is not None:
            num_batches = int(self.max_batches)
        else:
            raise ValueError('QueueWarmupHook cannot tell the batch size of '
                             'the train dataloader; set max_batches')
        dataset_len = len(dataloader.dataset)
        if dataset_len < queue.length:
            print_log(
                f'QueueWarmupHook: the queue ({queue.length} keys) is longer '
                f'than the training set ({dataset_len} images): stale copies '
                'of the same images will act as positives and negatives '
                '(spec_kcl.md §9.20); consider a shorter queue',
                logger='current',
                level=30)
        was_training = model.training
        model.train()
        done = 0
        iterator = iter(dataloader)
        fresh = True
        with torch.no_grad():
            while done < num_batches:
                try:
                    data = next(iterator)
                except StopIteration:
                    if fresh:
                        raise ValueError('QueueWarmupHook: the train '
                                         'dataloader is empty')
                    iterator, fresh = iter(dataloader), True
                    continue
                fresh = False
                data = model.data_preprocessor(data, True)
                model.fill_queue(data['inputs'], data['data_samples'])
                done += 1
        model.train(was_training)
        print_log(
            f'QueueWarmupHook: ran {done} batches, queue holds '
            f'{queue.num_filled()}/{queue.length} keys',
            logger='current')
