# Copyright (c) ltcls contributors. All rights reserved.
import os.path as osp

import cv2
import numpy as np
import pytest

from ltcls.datasets.transforms import (LoadImageFromFileStrict,
                                       check_image_bytes_complete)
from ltcls.registry import TRANSFORMS


def _encode(ext, size=(40, 30)):
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, size=(*size, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return img, buf.tobytes()


def test_check_image_bytes_complete():
    _, jpg = _encode('.jpg')
    assert check_image_bytes_complete(jpg) is None
    assert check_image_bytes_complete(jpg + b'\x00' * 10) is None  # padding
    assert 'truncated JPEG' in check_image_bytes_complete(jpg[:-2])
    assert 'truncated JPEG' in check_image_bytes_complete(jpg[:-300])
    assert 'no start-of-scan' in check_image_bytes_complete(jpg[:100])
    _, png = _encode('.png')
    assert check_image_bytes_complete(png) is None
    assert 'truncated PNG' in check_image_bytes_complete(png[:-5])
    assert check_image_bytes_complete(b'BM....') is None  # not checked


def test_strict_loader(tmp_path):
    img, png = _encode('.png')
    _, jpg = _encode('.jpg')
    files = {
        'ok.png': png,
        'cut.jpg': jpg[:-2],
        'junk.png': b'\x89PNG' + b'x',
        'empty.jpg': b''
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    load = TRANSFORMS.build(dict(type='LoadImageFromFileStrict'))
    out = load(dict(img_path=str(tmp_path / 'ok.png')))
    np.testing.assert_array_equal(out['img'], img)
    assert out['img_shape'] == out['ori_shape'] == (40, 30)
    for name, msg in (('cut.jpg', 'truncated JPEG'),
                      ('junk.png', 'cannot decode image file'),
                      ('empty.jpg', 'empty image file')):
        path = str(tmp_path / name)
        with pytest.raises(OSError, match=msg) as e:
            load(dict(img_path=path))
        assert path in str(e.value)
    missing = str(tmp_path / 'missing.jpg')
    with pytest.raises(FileNotFoundError, match=f'not found: {missing}'):
        load(dict(img_path=missing))
    # the pillow backend's decoding errors also name the file
    pil = LoadImageFromFileStrict(
        imdecode_backend='pillow', check_truncated=False)
    with pytest.raises(OSError, match=osp.join(str(tmp_path), 'cut.jpg')):
        pil(dict(img_path=str(tmp_path / 'cut.jpg')))
    # ignore_empty=True keeps mmcv's semantics (None -> dataset refetches)
    lenient = LoadImageFromFileStrict(ignore_empty=True)
    assert lenient(dict(img_path=missing)) is None
    assert lenient(dict(img_path=str(tmp_path / 'cut.jpg'))) is None
    f32 = LoadImageFromFileStrict(to_float32=True)
    assert f32(dict(img_path=str(tmp_path / 'ok.png')))['img'].dtype == \
        np.float32
    assert 'check_truncated=True' in repr(load)
