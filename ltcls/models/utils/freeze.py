# Copyright (c) ltcls contributors. All rights reserved.
"""Partial freezing of a backbone (PaCo's and ResCom's Places-LT recipe)."""
from typing import List, Sequence

from torch import nn

__all__ = ['freeze_conv_weights']


def freeze_conv_weights(backbone: nn.Module,
                        trainable: Sequence[str]) -> List[str]:
    """Set ``requires_grad=False`` on every ``Conv2d`` of ``backbone`` whose
    qualified name does not start with one of ``trainable`` (PaCo's Places-LT
    recipe: only ``layer4.2`` convs train; BN affine parameters stay
    trainable).

    Returns:
        list[str]: names of the frozen conv modules.

    Raises:
        ValueError: if a prefix matches no conv module (a typo would
            otherwise silently freeze the whole backbone).
    """
    if isinstance(trainable, str):
        trainable = [trainable]
    trainable = [p.rstrip('.') for p in trainable]
    convs = [(n, m) for n, m in backbone.named_modules()
             if isinstance(m, nn.Conv2d)]
    for prefix in trainable:
        if not any(n == prefix or n.startswith(prefix + '.')
                   for n, _ in convs):
            raise ValueError(
                f'trainable_conv prefix {prefix!r} matches no Conv2d of the '
                f'backbone {type(backbone).__name__}; conv names look like '
                f'{[n for n, _ in convs[-3:]]}')
    frozen = []
    for name, module in convs:
        if any(name == p or name.startswith(p + '.') for p in trainable):
            continue
        for param in module.parameters(recurse=False):
            param.requires_grad_(False)
        frozen.append(name)
    return frozen
