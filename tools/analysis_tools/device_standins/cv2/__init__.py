# Copyright (c) ltcls contributors. All rights reserved.
"""NOT OpenCV: a stand-in that tools/analysis_tools/gpu_check.sh puts on
the path of its own run only, when the machine has no ``cv2``.

Why: mmcv and mmengine ``import cv2`` at import time and read a few
constants (``cv2.INTER_LINEAR``, ``IMREAD_COLOR``, ...), but OpenCV's wheel
(55-75 MB) does not fit the 64 MiB that travels to the accelerator machine.
The GPU check feeds random tensors and never decodes, resizes or draws an
image. Constants read here are placeholder integers; calling any function
raises, so nothing can silently use this module for real work.
"""
import zlib

__version__ = '0.0.0+ltcls.standin'
LTCLS_STANDIN = True


def _unavailable(name):

    def fn(*args, **kwargs):
        raise RuntimeError(
            f'cv2.{name}: OpenCV is not installed; this is the ltcls GPU '
            'check stand-in (tools/analysis_tools/device_standins), which '
            'only lets mmcv / mmengine import')

    fn.__name__ = name
    return fn


class _Namespace:

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return _unavailable(name)


ocl = _Namespace()


def setNumThreads(n):  # noqa: N802  (mmengine calls it at set-up)
    return None


def __getattr__(name):
    if name.startswith('__'):
        raise AttributeError(name)
    if name.isupper() or name[:1].isupper() and '_' in name:
        return zlib.crc32(name.encode()) % 1000  # a placeholder constant
    return _unavailable(name)
