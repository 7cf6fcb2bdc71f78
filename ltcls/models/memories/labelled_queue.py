# Copyright (c) ltcls contributors. All rights reserved.
"""A FIFO memory of (key, label fields) shared by the queue-based methods
(KCL/FCL, PaCo, SBCL's ImageNet path, ResCom's FIFO ablation, ...).

mmpretrain's MoCo keeps an unlabelled ``queue`` buffer inside the algorithm
and asserts ``queue_len % batch_size == 0``; the long-tailed methods need
labels (and sometimes more ids, e.g. SBCL's subclass ids) next to each key,
an explicit "empty" marker, and wrap-around for any batch size. This module
is that piece, on the :class:`~ltcls.models.memories.BaseMemory` protocol.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from ltcls.registry import MODELS
from .base_memory import EMPTY, BaseMemory

__all__ = ['LabelledQueue']


@MODELS.register_module()
class LabelledQueue(BaseMemory):
    """FIFO queue of L2-normalised keys with integer label fields.

    Slots never written hold label ``-1`` (``EMPTY``); consumers must mask
    them everywhere (``snapshot().valid``). Keys, labels and the write
    pointer are buffers, so they are saved in and restored from checkpoints.
    A batch is written at the pointer, wrapping around, oldest out; of a
    batch longer than K only the newest K keys survive.

    Args:
        length (int): Number of slots K.
        dim (int): Key dimension d.
        num_label_fields (int): Integer ids stored per key (1: class label;
            2: class and subclass, ...). Defaults to 1.
        init (str): ``'empty'`` (default: every slot empty) or
            ``'random'`` (the official PaCo init: keys
            ``normalize(randn(K, d), dim=0)``, the MoCo (d, K) habit applied
            to a (K, d) buffer, and class labels drawn in
            ``[0, num_classes)``; extra label fields stay -1. These random
            keys count as filled, spurious positives included).
        num_classes (int, optional): Needed by ``init='random'``.
        gather (bool): Enqueue the keys of all ranks (all-gather) so that
            every rank holds the same queue. Defaults to True.

    Buffers:
        keys: (K, d) float. labels: (K,) long, or (K, num_label_fields).
        ptr: () long, next slot to write.
    """

    INITS = ('empty', 'random')

    def __init__(self,
                 length: int,
                 dim: int,
                 num_label_fields: int = 1,
                 init: str = 'empty',
                 num_classes: Optional[int] = None,
                 gather: bool = True):
        if isinstance(length, bool) or int(length) != length or length < 1:
            raise ValueError(f'LabelledQueue: queue length must be >= 1, got '
                             f'{length!r}')
        if int(dim) < 1:
            raise ValueError(f'LabelledQueue: queue key dim must be >= 1, '
                             f'got {dim}')
        super().__init__(dim, num_label_fields, init, gather)
        if init == 'random' and (num_classes is None or isinstance(
                num_classes, bool) or int(num_classes) < 1):
            raise ValueError('LabelledQueue: init="random" draws class '
                             'labels in [0, num_classes) and needs '
                             f'num_classes >= 1, got {num_classes!r}')
        self._length = int(length)
        self.num_classes = None if num_classes is None else int(num_classes)
        label_shape = (self._length, ) if self.num_label_fields == 1 else (
            self._length, self.num_label_fields)
        self.register_buffer('keys', torch.zeros(self._length, self.dim))
        self.register_buffer(
            'labels', torch.full(label_shape, EMPTY, dtype=torch.long))
        self.register_buffer('ptr', torch.zeros((), dtype=torch.long))
        self._init_memory()

    @property
    def length(self) -> int:
        return self._length

    def label_fields(self) -> Tuple[torch.Tensor, ...]:
        if self.labels.dim() == 1:
            return (self.labels, )
        return tuple(self.labels.unbind(1))

    @torch.no_grad()
    def _init_random(self) -> None:
        self.keys.copy_(
            F.normalize(torch.randn(self._length, self.dim), dim=0))
        self.class_labels.copy_(
            torch.randint(0, self.num_classes, (self._length, )))

    def _write(self, keys: torch.Tensor, labels: torch.Tensor) -> None:
        if self.num_label_fields == 1:
            labels = labels[:, 0]
        n = keys.shape[0]
        if n >= self._length:  # only the newest K survive
            keys, labels, n = keys[-self._length:], labels[-self._length:], \
                self._length
        idx = (self.ptr + torch.arange(n, device=self.ptr.device)) % \
            self._length
        self.keys[idx] = keys.to(self.keys.device)
        self.labels[idx] = labels.to(self.labels.device)
        self.ptr.copy_((self.ptr + n) % self._length)

    def extra_repr(self) -> str:
        return (f'length={self.length}, dim={self.dim}, '
                f'num_label_fields={self.num_label_fields}, '
                f'init={self.init!r}')
