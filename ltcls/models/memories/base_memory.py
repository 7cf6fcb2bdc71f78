# Copyright (c) ltcls contributors. All rights reserved.
"""The memory protocol every queue-based method uses (KCL/FCL, PaCo, ResCom,
MoCo-SBCL, SupCon with a queue).

A memory is a bank of ``K`` slots; each slot holds an L2-normalised key
(``d`` floats) and ``F >= 1`` integer label fields (field 0: the class
label; more fields for more ids, e.g. SBCL's subclass id). A slot whose
class label is :data:`EMPTY` (-1) holds no key and must be masked out by
every consumer (``MemorySnapshot.valid``).

The protocol (what a classifier calls, what a new memory implements):

* ``enqueue(keys, *label_fields)``: write one batch, (B, d) keys and ``F``
  label fields of shape (B,). The memory all-gathers the batch from every
  rank itself (rank order 0, 1, ..., :func:`~ltcls.models.utils.gather.
  concat_all_gather`), so every rank holds the same memory and a W-process
  run equals the 1-process run on the same global batch. Keys are
  normalised again and never carry a gradient.
* ``snapshot() -> MemorySnapshot``: read-only detached clones of the keys,
  the label fields and the valid mask. Take it *before* the step's
  ``enqueue`` and give it to the loss: ``enqueue`` writes the buffers in
  place while autograd may still need the snapshot.
* ``init``: the memory owns its initial state (``'empty'``: every slot
  empty; a memory may offer more, e.g. ``'random'``).

A subclass registers its buffers (they are its state-dict entries), calls
``self._init_memory()`` at the end of ``__init__`` and implements
``label_fields()``, ``_write(keys, labels)`` and, for an init other than
``'empty'``, ``_init_random()``.
"""
from typing import NamedTuple, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ltcls.models.utils.gather import concat_all_gather

__all__ = ['EMPTY', 'BaseMemory', 'MemorySnapshot']

#: Class label of a slot that holds no key.
EMPTY = -1


class MemorySnapshot(NamedTuple):
    """Detached copies of a memory's state (:meth:`BaseMemory.snapshot`).

    Attributes:
        keys (Tensor): (K, d) keys (placeholders where not ``valid``).
        labels (Tensor): (K,) long class labels (field 0), -1 = empty.
        fields (tuple[Tensor]): every label field, (K,) long each;
            ``fields[0]`` equals ``labels``. Extra fields may be -1 (no
            value, e.g. a key enqueued before the first clustering).
        valid (Tensor): (K,) bool, True where the slot holds a key.
    """
    keys: torch.Tensor
    labels: torch.Tensor
    fields: Tuple[torch.Tensor, ...]
    valid: torch.Tensor


class BaseMemory(nn.Module):
    """Base class of the labelled memories (see the module doc).

    Args:
        dim (int): Key dimension d.
        num_label_fields (int): F, integer ids stored per key. Defaults
            to 1.
        init (str): Initial state, one of the subclass's ``INITS``.
            Defaults to ``'empty'``.
        gather (bool): All-gather the keys and labels of every rank before
            writing. Defaults to True.
    """

    #: Initial states this memory supports.
    INITS: Tuple[str, ...] = ('empty', )

    def __init__(self,
                 dim: int,
                 num_label_fields: int = 1,
                 init: str = 'empty',
                 gather: bool = True):
        super().__init__()
        name = type(self).__name__
        for arg, value in (('dim', dim), ('num_label_fields',
                                          num_label_fields)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f'{name}: {arg} must be a positive int, got '
                                 f'{value!r}')
        if init not in self.INITS:
            raise ValueError(f'{name}: init must be one of {self.INITS}, got '
                             f'{init!r}')
        self.dim = int(dim)
        self.num_label_fields = int(num_label_fields)
        self.init = init
        self.gather = gather

    # ------------------------------------------------------------------
    # what a subclass implements
    # ------------------------------------------------------------------
    @property
    def length(self) -> int:
        """K, the number of slots."""
        raise NotImplementedError

    def label_fields(self) -> Tuple[torch.Tensor, ...]:
        """The ``F`` label fields, (K,) long each (live tensors or views:
        do not write them; -1 in field 0 = empty slot)."""
        raise NotImplementedError

    def _write(self, keys: torch.Tensor, labels: torch.Tensor) -> None:
        """Write a gathered batch: ``keys`` (n, d) normalised, in the
        buffers' dtype; ``labels`` (n, F) long, checked."""
        raise NotImplementedError

    def _init_random(self) -> None:
        raise NotImplementedError(
            f'{type(self).__name__} has no random init')

    def _check_class_labels(self, labels: torch.Tensor) -> None:
        """Validate the class field (B,) of a batch before it is written."""
        if (labels < 0).any():
            raise ValueError(f'{type(self).__name__}.enqueue: class labels '
                             'enqueued must be >= 0 (-1 marks empty slots)')

    # ------------------------------------------------------------------
    # the protocol
    # ------------------------------------------------------------------
    @torch.no_grad()
    def _init_memory(self) -> None:
        """Apply ``self.init`` (called once by the subclass's
        ``__init__``, after its buffers exist)."""
        if self.init == 'random':
            self._init_random()

    @property
    def class_labels(self) -> torch.Tensor:
        """(K,) the first label field (the class label)."""
        return self.label_fields()[0]

    def valid_mask(self) -> torch.Tensor:
        """(K,) bool, True for slots that hold a key."""
        return self.class_labels != EMPTY

    def num_filled(self) -> int:
        """Number of filled slots (reads a value back from the device: for
        tests and logging, not for per-step code)."""
        return int(self.valid_mask().sum())

    def snapshot(self) -> MemorySnapshot:
        """Detached clones of the keys, label fields and valid mask."""
        fields = tuple(f.clone() for f in self.label_fields())
        return MemorySnapshot(
            keys=self.keys.detach().clone(),
            labels=fields[0],
            fields=fields,
            valid=self.valid_mask().clone())

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, *label_fields: torch.Tensor) -> None:
        """Write a batch of keys with their label fields.

        Args:
            keys (Tensor): (B, d) keys (normalised again here).
            *label_fields (Tensor): ``num_label_fields`` tensors (B,):
                the class label (>= 0) first, then the extra ids (>= -1,
                -1: no value).
        """
        name = f'{type(self).__name__}.enqueue'
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f'{name}: keys must be (B, {self.dim}), got '
                             f'{tuple(keys.shape)}')
        if len(label_fields) != self.num_label_fields:
            raise ValueError(
                f'{name}: expected {self.num_label_fields} label field(s) '
                f'(class label first, each (B,)), got {len(label_fields)}')
        b = keys.shape[0]
        for i, field in enumerate(label_fields):
            if tuple(field.shape) != (b, ):
                raise ValueError(
                    f'{name}: label field {i} (labels) must have shape '
                    f'({b},), got {tuple(field.shape)}; pass every label '
                    'field as its own argument: enqueue(keys, labels, ...)')
        labels = torch.stack([f.long() for f in label_fields], dim=1)
        self._check_class_labels(labels[:, 0])
        if labels.shape[1] > 1 and (labels[:, 1:] < EMPTY).any():
            raise ValueError(f'{name}: extra label fields must be >= -1 (-1: '
                             'no value, e.g. not clustered yet)')
        if self.gather:
            keys = concat_all_gather(keys.detach().contiguous())
            labels = concat_all_gather(labels.contiguous())
        if labels.shape[0] == 0:
            return
        keys = F.normalize(keys.detach().to(self.keys.dtype), dim=1)
        self._write(keys, labels)
