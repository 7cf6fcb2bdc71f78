# Copyright (c) ltcls contributors. All rights reserved.
"""How a classifier holds its losses (the mmpretrain heads' convention).

* The constructor argument is ``loss=dict(...)`` (a config, or a built
  ``nn.Module``), stored as ``self.loss_module``; a classifier with a second
  loss takes ``warmup_loss=dict(...)``, stored as
  ``self.warmup_loss_module``. Their state lives under ``loss_module.*`` /
  ``warmup_loss_module.*``, which :mod:`ltcls.utils.training_state` lists as
  training-only.
* What a classifier reads from its loss besides calling it is declared, not
  probed: the classifier's ``LOSS_ATTRS`` (``WARMUP_LOSS_ATTRS``) names the
  attributes the loss must define, and :func:`build_loss` refuses a loss
  that lacks one, naming the classifier, the argument and the attribute.
* Renamed constructor arguments are refused by :func:`reject_renamed_args`
  with a message that names the new place.
"""
from typing import Dict, Mapping, Sequence, Union

from torch import nn

from ltcls.registry import MODELS

__all__ = ['build_loss', 'reject_renamed_args']


def build_loss(owner: str,
               cfg: Union[dict, nn.Module],
               arg: str = 'loss',
               required_attrs: Sequence[str] = ()) -> nn.Module:
    """Build a classifier's loss and check its protocol attributes.

    Args:
        owner (str): The classifier's name (for messages).
        cfg (dict | nn.Module): The loss config or module.
        arg (str): The constructor argument (for messages).
        required_attrs (Sequence[str]): Attributes the classifier reads from
            the loss (its ``LOSS_ATTRS``).

    Returns:
        nn.Module: the loss.

    Raises:
        TypeError: ``cfg`` is neither a dict nor an ``nn.Module``, or the
            loss lacks one of ``required_attrs``.
    """
    loss = MODELS.build(cfg) if isinstance(cfg, dict) else cfg
    if not isinstance(loss, nn.Module):
        raise TypeError(f'{owner}: {arg} must be a loss config dict or an '
                        f'nn.Module, got {type(cfg).__name__}')
    missing = [a for a in required_attrs if not hasattr(loss, a)]
    if missing:
        raise TypeError(
            f'{owner}: {arg}={type(loss).__name__} does not define '
            f'{", ".join(repr(a) for a in missing)}; {owner} reads '
            f'{tuple(required_attrs)} from its {arg} (its loss protocol, '
            f'{owner}.{"WARMUP_" if arg == "warmup_loss" else ""}LOSS_ATTRS)'
            '; use a loss that defines them or add them to the loss')
    return loss


def reject_renamed_args(owner: str, kwargs: Mapping,
                        renamed: Dict[str, str]) -> None:
    """Refuse old constructor arguments with the name of the new place.

    Args:
        owner (str): The classifier's name.
        kwargs (Mapping): The keyword arguments the constructor did not
            take by name.
        renamed (dict): Old argument -> where it went, e.g.
            ``{'contrastive_loss': "loss=dict(type='SupConLoss', ...)"}``.

    Raises:
        TypeError: for the first old argument, or for any other unexpected
            argument (as Python would).
    """
    for key in kwargs:
        if key in renamed:
            raise TypeError(f"{owner}: '{key}' was renamed; pass "
                            f'{renamed[key]}')
    if kwargs:
        raise TypeError(f'{owner}.__init__() got unexpected keyword '
                        f'argument(s) {sorted(kwargs)}')
