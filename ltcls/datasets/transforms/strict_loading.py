# Copyright (c) ltcls contributors. All rights reserved.
"""``LoadImageFromFileStrict``: image loading that never lets a bad file
pass unnoticed.

mmcv's ``LoadImageFromFile`` reports an undecodable file with a bare
``assert img is not None`` (stripped under ``python -O``), lets the pillow
backend's ``OSError`` escape without the file name, raises an opaque
``cv2.error`` for an empty file, and, with the OpenCV 4 builds that decode
truncated JPEGs with only a console warning, returns a half-grey image. This
subclass raises ``OSError`` naming the file in each of these cases.
"""
from typing import Optional

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import LoadImageFromFile

from ltcls.registry import TRANSFORMS

__all__ = ['LoadImageFromFileStrict', 'check_image_bytes_complete']

_JPEG_SOI = b'\xff\xd8\xff'
_JPEG_SOS = b'\xff\xda'
_JPEG_EOI = b'\xff\xd9'
_PNG_SIG = b'\x89PNG\r\n\x1a\n'
_PNG_IEND = b'IEND\xaeB`\x82'


def check_image_bytes_complete(img_bytes: bytes) -> Optional[str]:
    """Return why a JPEG/PNG byte string is incomplete, or None.

    JPEG: an end-of-image marker must follow the last start-of-scan marker
    (inside entropy-coded data ``0xFF`` is always byte-stuffed, so ``FFD9``
    there can only be the real EOI; trailing bytes after EOI are allowed).
    PNG: the ``IEND`` chunk must be present. Other formats are not checked.
    """
    if img_bytes.startswith(_JPEG_SOI):
        sos = img_bytes.rfind(_JPEG_SOS)
        if sos < 0:
            return 'JPEG without image data (no start-of-scan marker)'
        if img_bytes.find(_JPEG_EOI, sos + 2) < 0:
            return 'truncated JPEG (no end-of-image marker)'
    elif img_bytes.startswith(_PNG_SIG):
        if img_bytes.rfind(_PNG_IEND) < 0:
            return 'truncated PNG (no IEND chunk)'
    return None


@TRANSFORMS.register_module()
class LoadImageFromFileStrict(LoadImageFromFile):
    """Load an image from ``results['img_path']``; raise on a bad file.

    Same arguments and outputs as mmcv's ``LoadImageFromFile`` (``img``,
    ``img_shape``, ``ori_shape``), plus:

    Args:
        check_truncated (bool): Reject JPEG files without an end-of-image
            marker after the last scan and PNG files without ``IEND``
            (:func:`check_image_bytes_complete`). Defaults to True.
        **kwargs: ``to_float32``, ``color_type``, ``imdecode_backend``,
            ``backend_args``, ``ignore_empty`` (as in mmcv: True returns
            None for an unreadable file, letting mmengine's dataset pick
            another sample in training; keep False to fail loudly).

    Raises:
        FileNotFoundError: the file does not exist (names the file).
        OSError: the file is empty, truncated, or cannot be decoded (names
            the file).
    """

    def __init__(self, check_truncated: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.check_truncated = bool(check_truncated)

    def _read(self, filename: str) -> bytes:
        if self.file_client_args is not None:
            client = fileio.FileClient.infer_client(self.file_client_args,
                                                    filename)
            return client.get(filename)
        return fileio.get(filename, backend_args=self.backend_args)

    def _load(self, filename: str) -> np.ndarray:
        try:
            img_bytes = self._read(filename)
        except FileNotFoundError:
            raise FileNotFoundError(
                f'image file not found: {filename}') from None
        except Exception as e:
            raise OSError(f'cannot read image file {filename}: {e!r}') \
                from None
        if not img_bytes:
            raise OSError(f'empty image file: {filename}')
        if self.check_truncated:
            problem = check_image_bytes_complete(img_bytes)
            if problem:
                raise OSError(f'corrupt image file {filename}: {problem} '
                              '(set check_truncated=False to skip this '
                              'check)')
        try:
            img = mmcv.imfrombytes(
                img_bytes, flag=self.color_type, backend=self.imdecode_backend)
        except Exception as e:
            raise OSError(f'cannot decode image file {filename}: {e!r}') \
                from None
        if img is None or img.size == 0:
            raise OSError(f'cannot decode image file {filename} (corrupt or '
                          'not an image)')
        return img

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            img = self._load(filename)
        except OSError:  # FileNotFoundError is an OSError too
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', check_truncated={self.check_truncated})')
