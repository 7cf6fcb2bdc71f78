# Copyright (c) ltcls contributors. All rights reserved.
"""CIFAR10AutoAugment: every op of the 25 sub-policies against the PIL
reference implementation (DeepVoltaire's ``SubPolicy``) at fixed sign."""
import cv2
import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from ltcls.datasets.transforms.cifar10_autoaugment import (
    _RANGES, CIFAR10_POLICY_TABLE, _op)
from ltcls.registry import TRANSFORMS

GEOMETRIC = ('shearX', 'shearY', 'translateX', 'translateY', 'rotate')
FILL = (128, 128, 128)


def pil_reference(name, m, img):
    """The reference ops (PIL, RGB), with the random sign fixed to +."""
    if name == 'shearX':
        return img.transform(
            img.size,
            Image.AFFINE, (1, m, 0, 0, 1, 0),
            Image.BICUBIC,
            fillcolor=FILL)
    if name == 'shearY':
        return img.transform(
            img.size,
            Image.AFFINE, (1, 0, 0, m, 1, 0),
            Image.BICUBIC,
            fillcolor=FILL)
    if name == 'translateX':
        return img.transform(
            img.size,
            Image.AFFINE, (1, 0, m * img.size[0], 0, 1, 0),
            fillcolor=FILL)
    if name == 'translateY':
        return img.transform(
            img.size,
            Image.AFFINE, (1, 0, 0, 0, 1, m * img.size[1]),
            fillcolor=FILL)
    if name == 'rotate':
        rot = img.convert('RGBA').rotate(m)
        return Image.composite(rot, Image.new('RGBA', rot.size, (128, ) * 4),
                               rot).convert(img.mode)
    enhance = dict(
        color=ImageEnhance.Color,
        contrast=ImageEnhance.Contrast,
        sharpness=ImageEnhance.Sharpness,
        brightness=ImageEnhance.Brightness)
    if name in enhance:
        return enhance[name](img).enhance(1 + m)
    if name == 'posterize':
        return ImageOps.posterize(img, int(m))
    if name == 'solarize':
        return ImageOps.solarize(img, m)
    return dict(
        autocontrast=ImageOps.autocontrast,
        equalize=ImageOps.equalize,
        invert=ImageOps.invert)[name](
            img)


def _image():
    rng = np.random.RandomState(0)
    small = rng.randint(0, 256, (8, 8, 3)).astype(np.uint8)
    return cv2.resize(small, (32, 32), interpolation=cv2.INTER_CUBIC)


USED = sorted({(o, m)
               for p1, o1, m1, p2, o2, m2 in CIFAR10_POLICY_TABLE
               for o, m in ((o1, m1), (o2, m2))})


@pytest.mark.parametrize('name,index', USED)
def test_each_op_matches_pil_reference(name, index):
    img = _image()
    cfg = _op(name, 1.0, index)
    if name in GEOMETRIC or 'random_negative_prob' in cfg:
        cfg['random_negative_prob'] = 0.0  # fix the random sign
    op = TRANSFORMS.build(cfg)
    # mmpretrain images are BGR (LoadImageFromFile); the reference is RGB
    ours = op(dict(img=img[..., ::-1].copy()))['img'][..., ::-1]
    m = float(_RANGES[name][index]) if name in _RANGES else 0.0
    # mmcv's shear / translate use the opposite sign convention to PIL's
    # affine (the sign is random in both, so the distributions agree)
    sign = -1 if name in GEOMETRIC[:4] else 1
    ref = np.asarray(pil_reference(name, sign * m, Image.fromarray(img)))
    diff = np.abs(ours.astype(int) - ref.astype(int))
    if name in ('posterize', 'solarize', 'autocontrast', 'equalize', 'invert',
                'brightness', 'translateX', 'translateY'):
        assert diff.max() == 0
    elif name in ('color', 'contrast', 'sharpness'):
        assert diff.mean() < 0.5  # PIL vs OpenCV grey conversion / rounding
    else:  # bicubic / nearest resampling and centre conventions differ
        assert diff.mean() < (15 if name == 'rotate' else 4)
    if name in GEOMETRIC and m > 0:
        wrong = np.asarray(
            pil_reference(name, -sign * m, Image.fromarray(img)))
        assert np.abs(ours.astype(int) - wrong.astype(int)).mean() > 30


def test_policy_structure_and_sampling():
    aa = TRANSFORMS.build(dict(type='CIFAR10AutoAugment'))
    assert len(aa.transforms) == 25
    assert all(len(sub.transforms) == 2 for sub in aa.transforms)
    probs = [[t.prob for t in sub.transforms] for sub in aa.transforms]
    assert probs == [[p1, p2] for p1, _, _, p2, _, _ in CIFAR10_POLICY_TABLE]
    img = _image()
    changed = 0
    np.random.seed(0)
    for _ in range(50):
        out = aa(dict(img=img.copy()))['img']
        assert out.shape == img.shape and out.dtype == np.uint8
        changed += int(not np.array_equal(out, img))
    assert 20 < changed < 50  # ops fire with their probabilities


def test_bad_index():
    with pytest.raises(ValueError, match='index'):
        _op('rotate', 0.5, 10)
    with pytest.raises(ValueError, match='unknown'):
        _op('cutout', 0.5, 1)
