# Copyright (c) ltcls contributors. All rights reserved.
"""ResCom's class-balanced queue.

``ClassBalancedQueue`` (spec_rescom.md §2.3, §9 "Queues") holds ``K``
per-class FIFO queues of ``Q`` slots each, stored as one ``(K * Q, d)``
buffer: slot ``j`` always belongs to class ``j // Q``. Every anchor thus
sees ``Q`` positives and ``(K - 1) Q`` negatives whatever its class
frequency. It is the class-balanced sibling of
:class:`~ltcls.models.memories.LabelledQueue` (PaCo's global FIFO) on the
same :class:`~ltcls.models.memories.BaseMemory` protocol (one label field,
the class; label ``-1`` = empty slot), so the losses and the mining
(:func:`~ltcls.models.losses.hard_pair_mining.mine_hard_pairs`) work with
either.

Enqueue semantics equal the official code's Python loop over the gathered
batch (keys in batch order; a key of class ``c`` goes to slot ``ptr[c]``,
then ``ptr[c] = (ptr[c] + 1) % Q``), vectorised: keys are stably sorted by
class, each key's rank ``r`` within its class gives slot
``c * Q + (ptr[c] + r) % Q``, and when a batch holds more than ``Q`` keys of
a class only its last ``Q`` are written (they are the ones the loop leaves).
"""
from typing import Tuple

import torch
import torch.nn.functional as F

from ltcls.registry import MODELS
from .base_memory import EMPTY, BaseMemory

__all__ = ['ClassBalancedQueue', 'class_balanced_write']


def class_balanced_write(
        labels: torch.Tensor, ptr: torch.Tensor, size_per_class: int
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Slots written by a batch under per-class FIFO semantics.

    Args:
        labels (Tensor): (B,) long class labels in batch order.
        ptr (Tensor): (K,) long per-class write pointers.
        size_per_class (int): Q.

    Returns:
        tuple: ``keep`` (B,) bool (False for keys overwritten within the same
        batch), ``slots`` (B,) long slot index of every key (meaningful where
        ``keep``), ``new_ptr`` (K,) long.
    """
    q = int(size_per_class)
    num_classes = ptr.numel()
    n = labels.numel()
    # scatter_add, not bincount: on CUDA bincount reads the max label back
    counts = torch.zeros(
        num_classes, dtype=torch.long, device=labels.device).scatter_add_(
            0, labels, torch.ones_like(labels))  # (K,)
    order = torch.sort(labels, stable=True).indices  # batch order in class
    starts = torch.cumsum(counts, 0) - counts  # first sorted pos of class
    rank_sorted = torch.arange(n, device=labels.device) - starts[labels[order]]
    rank = torch.empty_like(rank_sorted)
    rank[order] = rank_sorted  # rank of each key among its class, in order
    keep = rank >= counts[labels] - q
    slots = labels * q + (ptr[labels] + rank) % q
    new_ptr = (ptr + counts) % q
    return keep, slots, new_ptr


@MODELS.register_module()
class ClassBalancedQueue(BaseMemory):
    """``K`` per-class FIFO queues of ``Q`` L2-normalised keys each.

    Args:
        num_classes (int): K.
        size_per_class (int): Q, slots per class.
        dim (int): Key dimension d.
        init (str): ``'random'`` (official code, the default decided in
            spec_rescom.md §2.3): every slot starts as a random unit vector
            labelled with its class, so unfilled slots act as (random) keys;
            ``'empty'``: slots start empty (label -1) and are masked out of
            positives and denominators until written.
        gather (bool): All-gather the keys of every rank before writing, so
            all ranks hold the same queue. Defaults to True.

    Buffers (saved in checkpoints):
        keys (K*Q, d) float; ptr (K,) long; filled (K*Q,) bool.
    """

    INITS = ('random', 'empty')

    def __init__(self,
                 num_classes: int,
                 size_per_class: int,
                 dim: int,
                 init: str = 'random',
                 gather: bool = True):
        for name, value in (('num_classes', num_classes),
                            ('size_per_class', size_per_class), ('dim', dim)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f'ClassBalancedQueue: {name} must be a '
                                 f'positive int, got {value!r}')
        super().__init__(dim, num_label_fields=1, init=init, gather=gather)
        self.num_classes = int(num_classes)
        self.size_per_class = int(size_per_class)
        length = self.num_classes * self.size_per_class
        self.register_buffer('keys', torch.zeros(length, self.dim))
        self.register_buffer('ptr',
                             torch.zeros(self.num_classes, dtype=torch.long))
        self.register_buffer('filled', torch.zeros(length, dtype=torch.bool))
        self.register_buffer(
            'slot_labels',
            torch.arange(self.num_classes).repeat_interleave(
                self.size_per_class),
            persistent=False)
        self._init_memory()

    @torch.no_grad()
    def _init_random(self) -> None:
        self.keys.copy_(F.normalize(torch.randn(self.length, self.dim), dim=1))
        self.filled.fill_(True)

    @property
    def length(self) -> int:
        return self.num_classes * self.size_per_class

    @property
    def labels(self) -> torch.Tensor:
        """(K*Q,) slot class labels, -1 for slots never written."""
        return torch.where(self.filled, self.slot_labels,
                           torch.full_like(self.slot_labels, EMPTY))

    def label_fields(self) -> Tuple[torch.Tensor, ...]:
        return (self.labels, )

    def valid_mask(self) -> torch.Tensor:
        return self.filled.clone()

    def _check_class_labels(self, labels: torch.Tensor) -> None:
        if labels.numel() and (int(labels.min()) < 0
                               or int(labels.max()) >= self.num_classes):
            raise ValueError(
                'ClassBalancedQueue.enqueue: labels must be in [0, '
                f'{self.num_classes}), got min {int(labels.min())} max '
                f'{int(labels.max())}')

    def _write(self, keys: torch.Tensor, labels: torch.Tensor) -> None:
        labels = labels[:, 0].to(self.ptr.device)
        keep, slots, new_ptr = class_balanced_write(labels, self.ptr,
                                                    self.size_per_class)
        # the kept keys hit distinct slots; per slot, the batch row writing
        # it (-1: none). A masked select (slots[keep]) would read the
        # number of kept keys back from the device.
        rows = torch.arange(labels.numel(), device=slots.device)
        writer = torch.full((self.length, ), -1, dtype=torch.long,
                            device=slots.device).scatter_reduce_(
                                0, slots, torch.where(keep, rows, -1), 'amax')
        hit = writer >= 0
        new_keys = keys.to(self.keys.device)[writer.clamp_min(0)]
        self.keys.copy_(torch.where(hit[:, None], new_keys, self.keys))
        self.filled |= hit
        self.ptr.copy_(new_ptr)

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, size_per_class='
                f'{self.size_per_class}, dim={self.dim}, init={self.init!r}')
