# Copyright (c) ltcls contributors. All rights reserved.
"""A FIFO memory of (key, label) pairs shared by the queue-based methods
(KCL/FCL, PaCo, SBCL's ImageNet path, ...).

mmpretrain's MoCo keeps an unlabelled ``queue`` buffer inside the algorithm
and asserts ``queue_len % batch_size == 0``; the long-tailed methods need
labels (and sometimes more ids, e.g. SBCL's subclass ids) next to each key,
an explicit "empty" marker, and wrap-around for any batch size. This module
is that piece, reusable by every algorithm.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .gather import concat_all_gather

EMPTY = -1


class LabelledQueue(nn.Module):
    """FIFO queue of L2-normalised keys with integer labels.

    Slots never written hold label ``-1`` (``EMPTY``); consumers must mask
    them everywhere (see :meth:`valid_mask`). Keys, labels and the write
    pointer are buffers, so they are saved in and restored from checkpoints.

    Args:
        length (int): Number of slots K.
        dim (int): Key dimension d.
        num_label_fields (int): Integer ids stored per key (1: class label;
            2: class and subclass, ...). Defaults to 1.
        gather (bool): Enqueue the keys of all ranks (all-gather) so that
            every rank holds the same queue. Defaults to True.

    Buffers:
        keys: (K, d) float. labels: (K,) long, or (K, num_label_fields).
        ptr: () long, next slot to write.
    """

    def __init__(self,
                 length: int,
                 dim: int,
                 num_label_fields: int = 1,
                 gather: bool = True):
        super().__init__()
        if int(length) < 1:
            raise ValueError(f'queue length must be >= 1, got {length}')
        if int(dim) < 1:
            raise ValueError(f'queue key dim must be >= 1, got {dim}')
        if int(num_label_fields) < 1:
            raise ValueError('num_label_fields must be >= 1, got '
                             f'{num_label_fields}')
        self.length = int(length)
        self.dim = int(dim)
        self.num_label_fields = int(num_label_fields)
        self.gather = gather
        label_shape = (self.length, ) if self.num_label_fields == 1 else (
            self.length, self.num_label_fields)
        self.register_buffer('keys', torch.zeros(self.length, self.dim))
        self.register_buffer(
            'labels', torch.full(label_shape, EMPTY, dtype=torch.long))
        self.register_buffer('ptr', torch.zeros((), dtype=torch.long))

    @property
    def class_labels(self) -> torch.Tensor:
        """(K,) the first label field (the class label)."""
        return self.labels if self.labels.dim() == 1 else self.labels[:, 0]

    def valid_mask(self) -> torch.Tensor:
        """(K,) bool, True for slots that hold a key."""
        return self.class_labels != EMPTY

    def num_filled(self) -> int:
        return int(self.valid_mask().sum())

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, labels: torch.Tensor) -> None:
        """Write a batch at the pointer, wrapping around, oldest first out.

        Args:
            keys (Tensor): (B, d), normalised here again for safety.
            labels (Tensor): (B,) or (B, num_label_fields). The class
                label (first field) must be >= 0; extra fields may be -1
                (no value).
        """
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f'keys must be (B, {self.dim}), got '
                             f'{tuple(keys.shape)}')
        labels = labels.long()
        if self.num_label_fields == 1 and labels.dim() == 2:
            labels = labels.squeeze(1)
        expected = (keys.shape[0], ) if self.num_label_fields == 1 else (
            keys.shape[0], self.num_label_fields)
        if tuple(labels.shape) != expected:
            raise ValueError(f'labels must have shape {expected}, got '
                             f'{tuple(labels.shape)}')
        cls = labels if labels.dim() == 1 else labels[:, 0]
        if (cls < 0).any():
            raise ValueError('class labels enqueued must be >= 0 (-1 marks '
                             'empty slots)')
        if labels.dim() == 2 and (labels[:, 1:] < EMPTY).any():
            raise ValueError('extra label fields must be >= -1 (-1: no '
                             'value, e.g. not clustered yet)')
        if self.gather:
            keys = concat_all_gather(keys.detach())
            labels = concat_all_gather(labels)
        keys = F.normalize(keys.detach().to(self.keys.dtype), dim=1)
        n = keys.shape[0]
        if n >= self.length:  # only the newest K survive
            keys, labels, n = keys[-self.length:], labels[-self.length:], \
                self.length
        idx = (self.ptr + torch.arange(n, device=self.ptr.device)) % \
            self.length
        self.keys[idx] = keys.to(self.keys.device)
        self.labels[idx] = labels.to(self.labels.device)
        self.ptr.copy_((self.ptr + n) % self.length)

    def get(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """(keys (K, d), labels) with empty slots labelled -1."""
        return self.keys, self.labels

    def extra_repr(self) -> str:
        return (f'length={self.length}, dim={self.dim}, '
                f'num_label_fields={self.num_label_fields}')
