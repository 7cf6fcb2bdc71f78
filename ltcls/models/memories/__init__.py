# Copyright (c) ltcls contributors. All rights reserved.
"""Contrastive memories (banks of labelled keys), as mmselfsup's
``models/memories``: one protocol (:class:`BaseMemory`), one module per
memory."""
from .base_memory import EMPTY, BaseMemory, MemorySnapshot
from .class_balanced_queue import ClassBalancedQueue, class_balanced_write
from .labelled_queue import LabelledQueue

__all__ = [
    'EMPTY', 'BaseMemory', 'MemorySnapshot', 'LabelledQueue',
    'ClassBalancedQueue', 'class_balanced_write'
]
