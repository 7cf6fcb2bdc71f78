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
``encoder_k.*``               momentum encoder (KCL, PaCo, MoCoSBCL, SupCon
                              with ``momentum``)
``queue.*``                   the memory (``LabelledQueue`` /
                              ``ClassBalancedQueue``: KCL, PaCo, ResCom,
                              MoCoSBCL, SupCon with a ``queue``)
``loss_module.*``             every classifier's ``loss`` (Hybrid-PSC
                              prototypes, class-count buffers, ...; the
                              PaCo *centers* are the head's ``fc`` and are
                              kept)
``warmup_loss_module.*``      the ``warmup_loss`` (SBCL / MoCoSBCL)
``subclass_labels``,          SBCL subclass state
``class_tau2``,
``cluster_ready``
============================  ============================================

Checkpoints written before the loss attributes were unified (see
:mod:`ltcls.models.utils.loss_protocol`) hold the same loss state under
``contrastive_loss.*`` (KCL, SupCon, Hybrid), ``sbcl_loss.*`` and
``warmup_loss.*`` (SBCL): :data:`LEGACY_TRAINING_ONLY_PREFIXES` keeps them
in the list so that such checkpoints are still stripped, and
``ContrastiveClassifier`` renames them on load
(:data:`LEGACY_LOSS_PREFIXES`) so that they still resume.

This module is the single list: every classifier's
``classifier_state_dict``, ``tools/model_converters/publish_model.py``, the
official-checkpoint converters and ``tools/test.py`` use it.

The result loads strictly into the ``ImageClassifier`` with the same
backbone, neck and head; it also loads into the training model itself with
these keys missing (``tools/test.py`` accepts that, since ``predict`` does
not use them).
"""
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Tuple

import torch

__all__ = [
    'TRAINING_ONLY_PREFIXES', 'TRAINING_ONLY_KEYS',
    'LEGACY_TRAINING_ONLY_PREFIXES', 'LEGACY_LOSS_PREFIXES',
    'training_only_group', 'is_training_only_key', 'split_training_state',
    'strip_training_state'
]

#: Old top-level loss attribute -> its current name (the state-dict prefix
#: of a checkpoint written before the loss attributes were unified).
LEGACY_LOSS_PREFIXES: Dict[str, str] = {
    'contrastive_loss.': 'loss_module.',  # KCL, SupConClassifier, Hybrid*
    'sbcl_loss.': 'loss_module.',  # SBCL, MoCoSBCL
    'warmup_loss.': 'warmup_loss_module.',  # SBCL, MoCoSBCL
}

#: The old prefixes (kept so that old checkpoints are still stripped).
LEGACY_TRAINING_ONLY_PREFIXES: Tuple[str, ...] = tuple(LEGACY_LOSS_PREFIXES)

#: Top-level state-dict prefixes used only for training, see above.
TRAINING_ONLY_PREFIXES: Tuple[str, ...] = (
    'projector.', 'encoder_k.', 'queue.', 'loss_module.',
    'warmup_loss_module.') + LEGACY_TRAINING_ONLY_PREFIXES

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


def strip_training_state(
    state_dict: Mapping[str, torch.Tensor]
) -> 'OrderedDict[str, torch.Tensor]':
    """The inference entries of ``state_dict`` (:func:`split_training_state`
    without the counts): they load strictly into the plain
    ``ImageClassifier`` with the same backbone, neck and head."""
    return split_training_state(state_dict)[0]
