# Copyright (c) ltcls contributors. All rights reserved.
"""Argument checks shared by the loss modules."""
import math

__all__ = ['check_number']


def check_number(owner: str, name: str, value,
                 allow_zero: bool = False) -> float:
    """``float(value)``, checked finite and > 0 (>= 0 if ``allow_zero``).

    Args:
        owner (str): the module named in the error, e.g. ``'PaCoLoss'``.
        name (str): the argument's name.
        value: the argument.

    Raises:
        TypeError: ``value`` is not a number.
        ValueError: ``value`` is out of range or not finite.
    """
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f'{owner}: {name} must be a number, got '
                        f'{value!r}') from None
    ok = value >= 0 if allow_zero else value > 0
    if not (ok and math.isfinite(value)):
        raise ValueError(f'{owner}: {name} must be '
                         f'{">= 0" if allow_zero else "> 0"}, got {value}')
    return value
