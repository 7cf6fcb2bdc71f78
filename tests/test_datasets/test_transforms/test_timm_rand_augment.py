# Copyright (c) ltcls contributors. All rights reserved.
"""TimmRandAugment('timm') reproduces timm's default level -> argument maps
(``rand-n2-m10-mstd0.5``, used by PaCo / ResCom), which mmpretrain's
'timm_increasing' preset does not."""
import numpy as np
import pytest

from ltcls.registry import TRANSFORMS

# timm (auto_augment.py) level -> argument of _RAND_TRANSFORMS, level in
# [0, 10]; written from timm's LEVEL_TO_ARG, without the random sign.
TIMM_DEFAULT = {
    'Rotate': lambda m: m / 10 * 30,
    'TimmPosterize': lambda m: int(m / 10 * 4),
    'Solarize': lambda m: m / 10 * 256,
    'SolarizeAdd': lambda m: m / 10 * 110,
    'ColorTransform': lambda m: m / 10 * 1.8 + 0.1,  # enhance factor
    'Contrast': lambda m: m / 10 * 1.8 + 0.1,
    'Brightness': lambda m: m / 10 * 1.8 + 0.1,
    'Sharpness': lambda m: m / 10 * 1.8 + 0.1,
    'Shear': lambda m: m / 10 * 0.3,
    'Translate': lambda m: m / 10 * 0.45,
}
SIGNED = ('Rotate', 'Shear', 'Translate')


@pytest.mark.parametrize('level', [0.0, 3.3, 7.0, 9.6, 10.0])
def test_level_maps_match_timm(level):
    ra = TRANSFORMS.build(
        dict(type='TimmRandAugment', magnitude_level=level, magnitude_std=0))
    names = [type(t).__name__ for t in ra.transforms]
    assert names == [
        'AutoContrast', 'Equalize', 'Invert', 'Rotate', 'TimmPosterize',
        'Solarize', 'SolarizeAdd', 'ColorTransform', 'Contrast', 'Brightness',
        'Sharpness', 'Shear', 'Shear', 'Translate', 'Translate'
    ]
    for t in ra.transforms:
        name = type(t).__name__
        assert t.prob == 0.5
        if name not in TIMM_DEFAULT:
            continue
        mag = t.random_magnitude()
        if name == 'TimmPosterize':
            mag = int(np.floor(mag))
        elif name in ('ColorTransform', 'Contrast', 'Brightness', 'Sharpness'):
            mag = 1 + mag  # mmcv factor
            assert t.random_negative_prob == 0  # timm: no random sign
        assert mag == pytest.approx(TIMM_DEFAULT[name](level), abs=1e-9)
        if name in SIGNED:
            assert t.random_negative_prob == 0.5


def test_posterize_floor_and_enhance_behaviour():
    img = np.full((4, 4, 3), 200, np.uint8)
    post = TRANSFORMS.build(
        dict(
            type='TimmPosterize',
            prob=1.0,
            magnitude_range=(0, 4),
            magnitude_level=9.9,
            magnitude_std=0))
    # 9.9 -> 3.96 -> 3 bits (mmpretrain's Posterize would round up to 4)
    assert post(dict(img=img.copy()))['img'][0, 0, 0] == 200 & 0b11100000
    ident = TRANSFORMS.build(dict(type='TimmPosterize', prob=1.0, bits=8))
    assert np.array_equal(ident(dict(img=img.copy()))['img'], img)
    ra = TRANSFORMS.build(
        dict(type='TimmRandAugment', magnitude_level=10, magnitude_std=0))
    bright = ra.transforms[9]
    bright.prob = 1.0
    dark = np.full((4, 4, 3), 100, np.uint8)
    assert bright(dict(img=dark))['img'][0, 0, 0] == 190  # factor 1.9
    with pytest.raises(ValueError, match='exactly one'):
        TRANSFORMS.build(dict(type='TimmPosterize'))


def test_presets_and_errors():
    inc = TRANSFORMS.build(
        dict(type='TimmRandAugment', policies='timm_increasing'))
    assert type(inc.transforms[4]).__name__ == 'Posterize'
    with pytest.raises(ValueError, match='policies'):
        TRANSFORMS.build(dict(type='TimmRandAugment', policies='imagenet'))
    ra = TRANSFORMS.build(
        dict(type='TimmRandAugment', hparams=dict(pad_val=[104, 116, 124])))
    img = np.random.RandomState(0).randint(0, 256,
                                           (16, 16, 3)).astype(np.uint8)
    np.random.seed(0)
    for _ in range(20):
        out = ra(dict(img=img.copy()))['img']
        assert out.shape == img.shape and out.dtype == np.uint8
