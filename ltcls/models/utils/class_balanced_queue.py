# Copyright (c) ltcls contributors. All rights reserved.
"""ResCom's class-balanced queue and supervised hard-pair mining.

``ClassBalancedQueue`` (spec_rescom.md §2.3, §9 "Queues") holds ``K``
per-class FIFO queues of ``Q`` slots each, stored as one ``(K * Q, d)``
buffer: slot ``j`` always belongs to class ``j // Q``. Every anchor thus
sees ``Q`` positives and ``(K - 1) Q`` negatives whatever its class
frequency. It is the class-balanced sibling of
:class:`~ltcls.models.utils.LabelledQueue` (PaCo's global FIFO) and exposes
the same ``get() -> (keys, labels)`` interface (label ``-1`` = empty slot),
so losses and the mining function work with either.

Enqueue semantics equal the official code's Python loop over the gathered
batch (keys in batch order; a key of class ``c`` goes to slot ``ptr[c]``,
then ``ptr[c] = (ptr[c] + 1) % Q``), vectorised: keys are stably sorted by
class, each key's rank ``r`` within its class gives slot
``c * Q + (ptr[c] + r) % Q``, and when a batch holds more than ``Q`` keys of
a class only its last ``Q`` are written (they are the ones the loop leaves).

:func:`mine_hard_pairs` (the supervised hard positive / negative mining,
SPM, Eq. 5) lives in :mod:`ltcls.models.losses.hard_pair_mining`; it is
re-exported here for backward compatibility.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ltcls.models.losses.hard_pair_mining import mine_hard_pairs
from .gather import concat_all_gather

__all__ = ['ClassBalancedQueue', 'mine_hard_pairs', 'class_balanced_write']

EMPTY = -1
INITS = ('random', 'empty')


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


class ClassBalancedQueue(nn.Module):
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

    def __init__(self,
                 num_classes: int,
                 size_per_class: int,
                 dim: int,
                 init: str = 'random',
                 gather: bool = True):
        super().__init__()
        for name, value in (('num_classes', num_classes),
                            ('size_per_class', size_per_class), ('dim', dim)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f'ClassBalancedQueue: {name} must be a '
                                 f'positive int, got {value!r}')
        if init not in INITS:
            raise ValueError(f'ClassBalancedQueue: init must be one of '
                             f'{INITS}, got {init!r}')
        self.num_classes = int(num_classes)
        self.size_per_class = int(size_per_class)
        self.dim = int(dim)
        self.init = init
        self.gather = gather
        length = self.num_classes * self.size_per_class
        if init == 'random':
            keys = F.normalize(torch.randn(length, self.dim), dim=1)
            filled = torch.ones(length, dtype=torch.bool)
        else:
            keys = torch.zeros(length, self.dim)
            filled = torch.zeros(length, dtype=torch.bool)
        self.register_buffer('keys', keys)
        self.register_buffer('ptr',
                             torch.zeros(self.num_classes, dtype=torch.long))
        self.register_buffer('filled', filled)
        self.register_buffer(
            'slot_labels',
            torch.arange(self.num_classes).repeat_interleave(
                self.size_per_class),
            persistent=False)

    @property
    def length(self) -> int:
        return self.num_classes * self.size_per_class

    @property
    def labels(self) -> torch.Tensor:
        """(K*Q,) slot class labels, -1 for slots never written."""
        return torch.where(self.filled, self.slot_labels,
                           torch.full_like(self.slot_labels, EMPTY))

    def valid_mask(self) -> torch.Tensor:
        return self.filled.clone()

    def num_filled(self) -> int:
        return int(self.filled.sum())

    def get(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """(keys (K*Q, d), labels (K*Q,)), label -1 = empty slot."""
        return self.keys, self.labels

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, labels: torch.Tensor) -> None:
        """Write a batch with per-class FIFO semantics (see module doc).

        Args:
            keys (Tensor): (B, d) keys (normalised again here).
            labels (Tensor): (B,) class labels in [0, K).
        """
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f'ClassBalancedQueue.enqueue: keys must be '
                             f'(B, {self.dim}), got {tuple(keys.shape)}')
        labels = labels.reshape(-1).long()
        if labels.numel() != keys.shape[0]:
            raise ValueError(f'ClassBalancedQueue.enqueue: {labels.numel()} '
                             f'labels for {keys.shape[0]} keys')
        if labels.numel() and (int(labels.min()) < 0
                               or int(labels.max()) >= self.num_classes):
            raise ValueError(
                'ClassBalancedQueue.enqueue: labels must be in [0, '
                f'{self.num_classes}), got min {int(labels.min())} max '
                f'{int(labels.max())}')
        if self.gather:
            keys = concat_all_gather(keys.detach().contiguous())
            labels = concat_all_gather(labels.contiguous())
        if labels.numel() == 0:
            return
        keys = F.normalize(keys.detach().to(self.keys.dtype), dim=1)
        labels = labels.to(self.ptr.device)
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
