# Copyright (c) ltcls contributors. All rights reserved.
"""timm's *default* RandAugment op set (``rand-n2-m10-mstd0.5``), as used by
the PaCo and ResCom code (spec_paco.md §9 "Transforms" check, spec_rescom.md
§4).

mmpretrain ships only timm's ``_RAND_INCREASING_TRANSFORMS``
(``'timm_increasing'``, selected in timm by ``rand-...-inc1``). The string
``rand-n2-m10-mstd0.5`` selects ``_RAND_TRANSFORMS`` instead, whose level ->
argument maps differ for five ops (``m`` is the level in [0, 10], sampled per
op from N(10, 0.5) and clipped to [0, 10]):

============  =============================  ===============================
op            timm default (this module)     'timm_increasing' (mmpretrain)
============  =============================  ===============================
Posterize     bits = int(0.4 m) (floor)      bits = ceil(4 - 0.4 m)
Solarize      thr = 25.6 m                   thr = 256 - 25.6 m
Color, Con-   factor = 0.1 + 0.18 m,         factor = 1 +- 0.09 m
trast, Bright-  no random sign                 (random sign)
ness, Sharp.
============  =============================  ===============================

So at m ~ 10 the default set mostly *enhances* colour / contrast /
brightness / sharpness (factor ~1.9), posterizes to 3-4 bits and barely
solarizes, while the increasing set does the opposite. Rotate (30 m / 10,
random sign), SolarizeAdd (11 m), Shear (0.03 m, sign), Translate (0.045 m
of the side, sign) and AutoContrast / Equalize / Invert are the same in both.
Every op fires with probability 0.5 and ``num_policies`` ops are drawn with
replacement, as in timm.

Remaining differences: timm picks bilinear or bicubic at random per op
(PaCo passes no ``interpolation``); here it is fixed by ``hparams``
(default bicubic, as the spec's preset). Solarize / SolarizeAdd thresholds
are not truncated to integers (one grey level at the boundary).
"""
import math
from typing import List, Union

import mmcv
from mmpretrain.datasets.transforms import RandAugment
from mmpretrain.datasets.transforms.auto_augment import (RANDAUG_POLICIES,
                                                         BaseAugTransform)

from ltcls.registry import TRANSFORMS

__all__ = ['TimmPosterize', 'TimmRandAugment', 'TIMM_RANDAUG_POLICIES']

_ENHANCE = dict(magnitude_range=(-0.9, 0.9), random_negative_prob=0.0)

TIMM_RANDAUG_POLICIES = {
    # timm _RAND_TRANSFORMS with the default LEVEL_TO_ARG maps
    'timm': [
        dict(type='AutoContrast'),
        dict(type='Equalize'),
        dict(type='Invert'),
        dict(type='Rotate', magnitude_range=(0, 30)),
        # scoped name: mmpretrain's RandAugment builds from its own registry
        dict(type='ltcls.TimmPosterize', magnitude_range=(0, 4)),
        dict(type='Solarize', magnitude_range=(0, 256)),
        dict(type='SolarizeAdd', magnitude_range=(0, 110)),
        dict(type='ColorTransform', **_ENHANCE),
        dict(type='Contrast', **_ENHANCE),
        dict(type='Brightness', **_ENHANCE),
        dict(type='Sharpness', **_ENHANCE),
        dict(type='Shear', magnitude_range=(0, 0.3), direction='horizontal'),
        dict(type='Shear', magnitude_range=(0, 0.3), direction='vertical'),
        dict(
            type='Translate',
            magnitude_range=(0, 0.45),
            direction='horizontal'),
        dict(
            type='Translate', magnitude_range=(0, 0.45), direction='vertical'),
    ],
    'timm_increasing':
    RANDAUG_POLICIES['timm_increasing'],
}


@TRANSFORMS.register_module()
class TimmPosterize(BaseAugTransform):
    """Posterize with timm's default level map: keep ``int(magnitude)``
    bits (floor; mmpretrain's ``Posterize`` rounds up), identity for 8 or
    more bits.

    Args:
        bits (int, optional): Fixed bits; else from ``magnitude_range``.
        prob (float): Probability. Defaults to 0.5.
        **kwargs: :class:`BaseAugTransform` arguments.
    """

    def __init__(self, bits=None, prob: float = 0.5, **kwargs):
        super().__init__(prob=prob, random_negative_prob=0., **kwargs)
        if (bits is None) == (self.magnitude_range is None):
            raise ValueError('TimmPosterize: give exactly one of `bits` and '
                             '`magnitude_range`')
        self.bits = bits

    def transform(self, results: dict) -> dict:
        if self.random_disable():
            return results
        bits = self.bits if self.bits is not None else \
            self.random_magnitude()
        bits = int(math.floor(bits))
        if bits >= 8:
            return results
        img = results['img']
        results['img'] = mmcv.posterize(
            img, bits=max(bits, 0)).astype(img.dtype)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(bits={self.bits}, '
                f'prob={self.prob}{self.extra_repr()})')


@TRANSFORMS.register_module()
class TimmRandAugment(RandAugment):
    """mmpretrain ``RandAugment`` with timm's default op set as a preset.

    Args:
        policies (str | list[dict]): ``'timm'`` (default: timm
            ``rand-nX-mY``, what PaCo / ResCom use), ``'timm_increasing'``
            (``rand-nX-mY-inc1``) or an explicit list.
        num_policies (int): Ops per image (timm ``n``). Defaults to 2.
        magnitude_level (float): timm ``m``. Defaults to 10.
        magnitude_std (float | str): timm ``mstd``. Defaults to 0.5.
        total_level (float): Defaults to 10 (timm ``_MAX_LEVEL``).
        hparams (dict): Fill value and interpolation of the geometric ops.
            Defaults to ``dict(pad_val=128, interpolation='bicubic')``; PaCo
            / ResCom fill with the ImageNet mean, BGR ``[104, 116, 124]``.
    """

    def __init__(self,
                 policies: Union[str, List[dict]] = 'timm',
                 num_policies: int = 2,
                 magnitude_level: float = 10,
                 magnitude_std: Union[float, str] = 0.5,
                 total_level: float = 10,
                 hparams: dict = dict(pad_val=128, interpolation='bicubic')):
        if isinstance(policies, str):
            if policies not in TIMM_RANDAUG_POLICIES:
                raise ValueError(
                    f'TimmRandAugment: policies must be one of '
                    f'{sorted(TIMM_RANDAUG_POLICIES)} or a list, got '
                    f'{policies!r}')
            policies = [dict(p) for p in TIMM_RANDAUG_POLICIES[policies]]
        super().__init__(
            policies=policies,
            num_policies=num_policies,
            magnitude_level=magnitude_level,
            magnitude_std=magnitude_std,
            total_level=total_level,
            hparams=hparams)
