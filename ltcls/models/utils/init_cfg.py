# Copyright (c) ltcls contributors. All rights reserved.
"""Complete a partial ``init_cfg`` given on the command line.

``--cfg-options model.backbone.init_cfg.checkpoint=ckpt.pth`` on a config
whose backbone has no ``init_cfg`` entry (its default lives in the
constructor) creates ``init_cfg=dict(checkpoint=...)`` without a ``type``;
mmengine then fails in ``init_weights`` with a bare ``KeyError: 'type'``.
What the user asks for is unambiguous: initialise from that checkpoint.
"""
import copy
from typing import Optional, Union

__all__ = ['complete_init_cfg']


def complete_init_cfg(init_cfg: Union[dict, list, None],
                      owner: str,
                      prefix: Optional[str] = 'backbone.'):
    """Return ``init_cfg`` with ``type`` filled in where it is implied.

    Args:
        init_cfg (dict | list[dict] | None): The init config.
        owner (str): Module name for the error message.
        prefix (str, optional): ``prefix`` of the implied ``Pretrained``
            init, i.e. which part of a whole-classifier checkpoint to load
            (``'backbone.'`` for a backbone; None loads the file as is).

    Returns:
        The same config, except that a dict with ``checkpoint`` and no
        ``type`` becomes ``dict(type='Pretrained', prefix=prefix, ...)``.

    Raises:
        ValueError: a dict without ``type`` and without ``checkpoint``.
    """
    if init_cfg is None:
        return None
    if isinstance(init_cfg, (list, tuple)):
        return [complete_init_cfg(c, owner, prefix) for c in init_cfg]
    if not isinstance(init_cfg, dict) or 'type' in init_cfg:
        return init_cfg
    if 'checkpoint' not in init_cfg:
        raise ValueError(
            f'{owner}: init_cfg {dict(init_cfg)} has no "type" (e.g. '
            "'Pretrained', 'Kaiming'); with --cfg-options set the whole "
            'init_cfg, e.g. model.backbone.init_cfg.type=Pretrained')
    cfg = copy.deepcopy(dict(init_cfg))
    cfg['type'] = 'Pretrained'
    if prefix is not None:
        cfg.setdefault('prefix', prefix)
    return cfg
