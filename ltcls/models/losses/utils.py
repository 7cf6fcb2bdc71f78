# Copyright (c) ltcls contributors. All rights reserved.
"""Argument checks shared by the loss modules."""
import math
from typing import Optional

import torch

__all__ = ['check_number', 'check_int_labels', 'check_global_subclass_ids']


def check_number(owner: Optional[str], name: str, value,
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
    prefix = f'{owner}: ' if owner else ''
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
    prefix = f'{owner}: ' if owner else ''
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
