# Copyright (c) ltcls contributors. All rights reserved.
"""Argument checks, the compute dtype and the two reduction contracts
shared by the loss modules.

Checks (one message format for every loss: ``'<Owner>: <arg> must be
<expected>, got <value>'``; ``owner=None`` drops the prefix, as the
functional forms do):

* :func:`check_number`: a finite float > 0 (or >= 0): temperatures,
  weights;
* :func:`check_int`: a Python int (``bool`` refused) >= a lower bound,
  optionally None: ``pos_k``, ``num_pos``, ``group_size``, ``num_classes``;
* :func:`check_choice`: one of a tuple of strings (``variant``, ...);
* :func:`check_reduction`: ``check_choice`` over :data:`REDUCTIONS`;
* :func:`check_int_labels` / :func:`check_global_subclass_ids`: label
  tensors.

:func:`compute_dtype_of` is the one "float64 stays float64" rule.

Reduction contracts
-------------------
Every loss in ``ltcls/models/losses`` follows one of two contracts; its
docstring says which.

1. **Classification contract** (mmpretrain's): a per-sample loss reduced
   by ``mmpretrain.models.losses.utils.weight_reduce_loss`` with
   ``reduction`` in :data:`REDUCTIONS` (``'mean'`` default), an optional
   per-sample ``weight``, ``avg_factor`` and a per-call
   ``reduction_override``. ``'mean'`` is over the local batch (DDP's
   gradient averaging then gives the global mean for equal per-rank
   batches). Losses: :class:`BalancedSoftmaxLoss`, :class:`LogitAdjustLoss`,
   :class:`LDAMLoss`.
2. **Anchor contract** (the contrastive losses): a ``*_per_anchor``
   function returns ``(loss (A,), has_pos (A,) bool)``, with loss 0 where an
   anchor has no positive; the scalar is
   :func:`~ltcls.models.losses.reduce_anchor_loss`: the sum of the
   (optionally per-anchor weighted) losses divided by the number of anchors
   *with positives* of the *global* batch (all-reduced, divided by the world
   size), so a W-process DDP run equals the 1-process run on the same global
   batch even with unequal per-rank counts; a weight does not change the
   divisor. Losses: :class:`SupConLoss` (also in-batch KCL),
   :class:`KCLLoss`, :class:`SBCLLoss` / :class:`SBCLQueueLoss` (each term
   separately; ``empty_class_term='zero'`` counts every anchor in T2),
   :class:`PaCoLoss`, :class:`MultiTaskContrastiveLoss` (its CE term counts
   every anchor), :class:`ResComLoss` (contrastive term) and
   :class:`PSCLoss` (its ``reduction='mean'``; ``'sum'`` / ``'none'`` as in
   contract 1, no ``avg_factor``).
"""
import math
import numbers
from typing import Optional, Sequence

import torch

__all__ = [
    'check_number', 'check_int', 'check_choice', 'check_reduction',
    'check_int_labels', 'check_global_subclass_ids', 'compute_dtype_of',
    'REDUCTIONS'
]

REDUCTIONS = ('none', 'mean', 'sum')


def _prefix(owner: Optional[str]) -> str:
    return f'{owner}: ' if owner else ''


def compute_dtype_of(x: torch.Tensor) -> torch.dtype:
    """The dtype a loss computes in: float64 stays float64; float16 /
    bfloat16 / float32 compute in float32 (a log-sum-exp over many fp16
    logits, or fp16 logits plus a log prior, is not safe)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def check_int(owner: Optional[str],
              name: str,
              value,
              low: int = 0,
              allow_none: bool = False) -> Optional[int]:
    """``value``, checked to be an integer (``int`` or a numpy integer;
    ``bool`` and floats such as ``2.0`` are refused) >= ``low``.

    Args:
        owner (str, optional): the module named in the error; None for no
            prefix.
        name (str): the argument's name.
        value: the argument.
        low (int): the smallest allowed value. Defaults to 0.
        allow_none (bool): None passes (and is returned). Defaults to False.

    Returns:
        int or None.

    Raises:
        ValueError: ``'<owner>: <name> must be an int >= <low>[ or None],
            got <value!r>'``.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or value < low:
        raise ValueError(f'{_prefix(owner)}{name} must be an int >= {low}'
                         f'{" or None" if allow_none else ""}, got {value!r}')
    return int(value)


def check_choice(owner: Optional[str], name: str, value,
                 choices: Sequence) -> None:
    """Raise ``ValueError('<owner>: <name> must be one of <choices>, got
    <value!r>')`` unless ``value in choices``."""
    if value not in choices:
        raise ValueError(f'{_prefix(owner)}{name} must be one of '
                         f'{tuple(choices)}, got {value!r}')


def check_reduction(reduction: Optional[str],
                    owner: Optional[str],
                    arg: str = 'reduction') -> None:
    """``reduction`` (or ``reduction_override``, named by ``arg``) must be
    one of :data:`REDUCTIONS` (reduction contract 1, module docstring)."""
    check_choice(owner, arg, reduction, REDUCTIONS)


def check_number(owner: Optional[str],
                 name: str,
                 value,
                 allow_zero: bool = False) -> float:
    """``float(value)``, checked finite and > 0 (>= 0 if ``allow_zero``).

    Every temperature of the contrastive losses goes through it (SupCon,
    KCL, ResCom, PSC, SBCL's tau1 / tau2, PaCo, MultiTask): ``inf`` would
    make every logit 0, a constant loss with zero gradient.

    Args:
        owner (str, optional): the module named in the error, e.g.
            ``'PaCoLoss'``; None for no prefix.
        name (str): the argument's name.
        value: the argument (a number or a one-element tensor).

    Raises:
        TypeError: ``value`` is not a number.
        ValueError: ``value`` is out of range or not finite.
    """
    prefix = _prefix(owner)
    try:
        value = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f'{prefix}{name} must be a number, got '
                        f'{value!r}') from None
    ok = value >= 0 if allow_zero else value > 0
    if not (ok and math.isfinite(value)):
        raise ValueError(f'{prefix}{name} must be '
                         f'{">= 0" if allow_zero else "> 0"} and finite, '
                         f'got {value}')
    return value


def check_int_labels(owner: Optional[str], name: str,
                     labels: torch.Tensor) -> None:
    """Class labels must be an integer tensor (a float tensor would be
    compared with ``==`` and silently group 0.5 with nothing).

    Raises:
        TypeError: ``labels`` is not a tensor of an integer dtype.
    """
    prefix = _prefix(owner)
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f'{prefix}{name} must be a tensor of integer class '
                        f'ids, got {type(labels).__name__}')
    if labels.dtype.is_floating_point or labels.dtype.is_complex or \
            labels.dtype == torch.bool:
        raise TypeError(f'{prefix}{name} must be integer class ids (e.g. '
                        f'torch.long), got dtype {labels.dtype}')


def check_global_subclass_ids(labels: torch.Tensor,
                              sub_labels: torch.Tensor,
                              name: str = 'sub_labels') -> None:
    """SBCL subclass ids are global: one id never belongs to two classes.
    Entries with a subclass id < 0 (not clustered yet / empty queue slot)
    are ignored.

    Raises:
        ValueError: naming a shared subclass id and two of its classes.
    """
    # One host read on the happy path (the `any`): sorted by subclass id, a
    # run of one id that holds two classes has an adjacent pair that
    # differs in class; the details are read only to build the error.
    if sub_labels.numel() < 2:
        return
    sub, order = torch.sort(sub_labels.long(), stable=True)
    cls = labels.long()[order]
    valid = sub >= 0
    shared = ((sub[1:] == sub[:-1]) & (cls[1:] != cls[:-1])
              & valid[1:] & valid[:-1])
    if bool(shared.any()):
        i = int(torch.nonzero(shared)[0, 0])
        raise ValueError(
            f'{name}: subclass id {int(sub[i])} is shared by classes '
            f'{int(cls[i])} and {int(cls[i + 1])}; SBCL subclass '
            'ids must be global (an id belongs to one class)')
