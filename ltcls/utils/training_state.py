# Copyright (c) ltcls contributors. All rights reserved.
"""Which state-dict entries of an ltcls model only training needs.

Inference in every ltcls classifier is mmpretrain's ``ImageClassifier``
path: ``backbone -> neck -> head``. The contrastive methods keep more state
in the model, which a published (model-zoo) checkpoint drops:

============================  ============================================
key                           held by
============================  ============================================
``projector.*``               every ``ContrastiveClassifier`` with a
                              projection head
``encoder_k.*``               momentum encoder (KCL, PaCo, ResCom,
                              MoCoSBCL, SupCon with ``momentum``)
``queue.*``                   ``LabelledQueue`` / ``ClassBalancedQueue``
                              (KCL, PaCo, ResCom, MoCoSBCL)
``contrastive_loss.*``        KCL / SupCon / Hybrid loss modules (Hybrid-PSC
                              prototypes)
``loss_module.*``             PaCo / ResCom loss modules (the PaCo *centers*
                              are the head's ``fc`` and are kept)
``sbcl_loss.*``,              SBCL / MoCoSBCL losses
``warmup_loss.*``
``subclass_labels``,          SBCL subclass state
``class_tau2``,
``cluster_ready``
============================  ============================================

The result loads strictly into the ``ImageClassifier`` with the same
backbone, neck and head; it also loads into the training model itself with
these keys missing (``tools/test.py`` accepts that, since ``predict`` does
not use them).
"""
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Tuple

import torch

__all__ = [
    'TRAINING_ONLY_PREFIXES', 'TRAINING_ONLY_KEYS', 'training_only_group',
    'is_training_only_key', 'split_training_state'
]

#: Top-level state-dict prefixes used only for training, see above.
TRAINING_ONLY_PREFIXES: Tuple[str,
                              ...] = ('projector.', 'encoder_k.', 'queue.',
                                      'contrastive_loss.', 'loss_module.',
                                      'sbcl_loss.', 'warmup_loss.')

#: Exact top-level keys used only for training (SBCL's subclass state).
TRAINING_ONLY_KEYS: Tuple[str, ...] = ('subclass_labels', 'class_tau2',
                                       'cluster_ready')

_WRAPPER = 'module.'


def _strip_wrapper(key: str) -> str:
    while key.startswith(_WRAPPER):
        key = key[len(_WRAPPER):]
    return key


def training_only_group(key: str) -> Optional[str]:
    """The training-only group of ``key`` (e.g. ``'encoder_k'``), or None
    if inference may need it. DDP ``module.`` prefixes are ignored."""
    name = _strip_wrapper(key)
    if name in TRAINING_ONLY_KEYS:
        return name
    for prefix in TRAINING_ONLY_PREFIXES:
        if name.startswith(prefix):
            return prefix[:-1]
    return None


def is_training_only_key(key: str) -> bool:
    """Whether ``key`` is a training-only entry (see the module doc)."""
    return training_only_group(key) is not None


def split_training_state(
    state_dict: Mapping[str, torch.Tensor]
) -> Tuple['OrderedDict[str, torch.Tensor]', Dict[str, int]]:
    """Split a state dict into what inference needs and what it does not.

    Args:
        state_dict (Mapping[str, Tensor]): A model state dict.

    Returns:
        tuple: ``(kept, dropped)``: the inference entries (source order,
        same tensors) and the number of dropped entries per group, e.g.
        ``{'encoder_k': 122, 'queue': 3}``.
    """
    kept = OrderedDict()
    dropped: Dict[str, int] = {}
    for key, value in state_dict.items():
        group = training_only_group(key)
        if group is None:
            kept[key] = value
        else:
            dropped[group] = dropped.get(group, 0) + 1
    return kept, dropped
