# Copyright (c) ltcls contributors. All rights reserved.
"""AutoAugment's CIFAR-10 policy, as used by the CIFAR-LT code of PaCo,
ResCom, Balanced Softmax and others (``CIFAR10Policy`` of
DeepVoltaire/AutoAugment, spec_paco.md §4, spec_rescom.md §4).

mmpretrain's ``AutoAugment`` ships only the ImageNet policy; it accepts any
policy list, so this module only *translates* the 25 CIFAR-10 sub-policies
(probability, op, magnitude index 0-9) into mmpretrain ops:

==============  ==========================  ================================
reference op    reference magnitude         mmpretrain op
==============  ==========================  ================================
shearX / Y      linspace(0, 0.3)[i], +-     Shear(bicubic, fill 128)
translateX / Y  linspace(0, 150/331)[i]     Translate (fraction of the side,
                * side, +-                  nearest, fill 128)
rotate          linspace(0, 30)[i], CCW,    Rotate(angle=-a, no random sign;
                no random sign              mmcv's positive angle is CW)
color, contrast linspace(0, 0.9)[i], factor ColorTransform / Contrast /
sharpness,      1 +- m                      Sharpness / Brightness
brightness                                  (random sign 0.5)
posterize       round(linspace(8, 4))[i]    Posterize(bits)
solarize        linspace(256, 0)[i]         Solarize(thr)
autocontrast,   -                           AutoContrast / Equalize / Invert
equalize, invert
==============  ==========================  ================================

Differences that remain: PIL vs OpenCV resampling and grey conversion
(a few grey levels), the shear / translate sign convention (irrelevant: the
sign is random in both), and mmcv's colour ops assume BGR while the CIFAR
arrays are RGB (the R / B grey weights are swapped).
"""
import numpy as np
from mmpretrain.datasets.transforms import AutoAugment

from ltcls.registry import TRANSFORMS

__all__ = [
    'CIFAR10AutoAugment', 'CIFAR10_POLICY_TABLE',
    'cifar10_autoaugment_policies'
]

#: (p1, op1, magnitude index 1, p2, op2, magnitude index 2), the 25
#: sub-policies of ``CIFAR10Policy`` (AutoAugment paper, CIFAR-10).
CIFAR10_POLICY_TABLE = (
    (0.1, 'invert', 7, 0.2, 'contrast', 6),
    (0.7, 'rotate', 2, 0.3, 'translateX', 9),
    (0.8, 'sharpness', 1, 0.9, 'sharpness', 3),
    (0.5, 'shearY', 8, 0.7, 'translateY', 9),
    (0.5, 'autocontrast', 8, 0.9, 'equalize', 2),
    (0.2, 'shearY', 7, 0.3, 'posterize', 7),
    (0.4, 'color', 3, 0.6, 'brightness', 7),
    (0.3, 'sharpness', 9, 0.7, 'brightness', 9),
    (0.6, 'equalize', 5, 0.5, 'equalize', 1),
    (0.6, 'contrast', 7, 0.6, 'sharpness', 5),
    (0.7, 'color', 7, 0.5, 'translateX', 8),
    (0.3, 'equalize', 7, 0.4, 'autocontrast', 8),
    (0.4, 'translateY', 3, 0.2, 'sharpness', 6),
    (0.9, 'brightness', 6, 0.2, 'color', 8),
    (0.5, 'solarize', 2, 0.0, 'invert', 3),
    (0.2, 'equalize', 0, 0.6, 'autocontrast', 0),
    (0.2, 'equalize', 8, 0.8, 'equalize', 4),
    (0.9, 'color', 9, 0.6, 'equalize', 6),
    (0.8, 'autocontrast', 4, 0.2, 'solarize', 8),
    (0.1, 'brightness', 3, 0.7, 'color', 0),
    (0.4, 'solarize', 5, 0.9, 'autocontrast', 3),
    (0.9, 'translateY', 9, 0.7, 'translateY', 9),
    (0.9, 'autocontrast', 2, 0.8, 'solarize', 3),
    (0.8, 'equalize', 8, 0.1, 'invert', 3),
    (0.7, 'translateY', 9, 0.9, 'autocontrast', 1),
)

_RANGES = {
    'shearX': np.linspace(0, 0.3, 10),
    'shearY': np.linspace(0, 0.3, 10),
    'translateX': np.linspace(0, 150 / 331, 10),
    'translateY': np.linspace(0, 150 / 331, 10),
    'rotate': np.linspace(0, 30, 10),
    'color': np.linspace(0.0, 0.9, 10),
    'posterize': np.round(np.linspace(8, 4, 10), 0).astype(np.int64),
    'solarize': np.linspace(256, 0, 10),
    'contrast': np.linspace(0.0, 0.9, 10),
    'sharpness': np.linspace(0.0, 0.9, 10),
    'brightness': np.linspace(0.0, 0.9, 10),
}


def _op(name: str, prob: float, index: int) -> dict:
    """One reference op as an mmpretrain transform config."""
    if not 0 <= index <= 9:
        raise ValueError(f'magnitude index must be in [0, 9], got {index}')
    mag = float(_RANGES[name][index]) if name in _RANGES else None
    prob = float(prob)
    if name in ('shearX', 'shearY'):
        return dict(
            type='Shear',
            magnitude=mag,
            prob=prob,
            direction='horizontal' if name == 'shearX' else 'vertical',
            interpolation='bicubic')
    if name in ('translateX', 'translateY'):
        return dict(
            type='Translate',
            magnitude=mag,
            prob=prob,
            direction='horizontal' if name == 'translateX' else 'vertical',
            interpolation='nearest')
    if name == 'rotate':
        # PIL rotates counter-clockwise, mmcv clockwise; no random sign
        return dict(
            type='Rotate',
            angle=-mag,
            prob=prob,
            random_negative_prob=0.0,
            interpolation='nearest')
    enhance = dict(
        color='ColorTransform',
        contrast='Contrast',
        sharpness='Sharpness',
        brightness='Brightness')
    if name in enhance:
        return dict(
            type=enhance[name],
            magnitude=mag,
            prob=prob,
            random_negative_prob=0.5)
    if name == 'posterize':
        return dict(type='Posterize', bits=int(mag), prob=prob)
    if name == 'solarize':
        return dict(type='Solarize', thr=mag, prob=prob)
    simple = dict(
        autocontrast='AutoContrast', equalize='Equalize', invert='Invert')
    if name in simple:
        return dict(type=simple[name], prob=prob)
    raise ValueError(f'unknown CIFAR-10 AutoAugment op {name!r}')


def cifar10_autoaugment_policies() -> list:
    """The 25 sub-policies as mmpretrain ``AutoAugment`` policy lists."""
    return [[_op(o1, p1, m1), _op(o2, p2, m2)]
            for p1, o1, m1, p2, o2, m2 in CIFAR10_POLICY_TABLE]


@TRANSFORMS.register_module()
class CIFAR10AutoAugment(AutoAugment):
    """AutoAugment with the CIFAR-10 policy (one of the 25 sub-policies is
    picked uniformly per image; each of its two ops fires with its own
    probability).

    Args:
        hparams (dict): Defaults for the ops (fill value of the geometric
            ops). Defaults to ``dict(pad_val=128)`` (the reference
            ``fillcolor=(128, 128, 128)``).

    Example:
        >>> train_pipeline = [
        ...     dict(type='RandomCrop', crop_size=32, padding=4),
        ...     dict(type='RandomFlip', prob=0.5),
        ...     dict(type='CIFAR10AutoAugment'),
        ...     dict(type='Cutout', shape=16, pad_val=0, prob=1.0),
        ...     dict(type='PackInputs')]
    """

    def __init__(self, hparams: dict = dict(pad_val=128)):
        super().__init__(
            policies=cifar10_autoaugment_policies(), hparams=hparams)
