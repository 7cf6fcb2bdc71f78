# Copyright (c) ltcls contributors. All rights reserved.
import mmcv
import mmengine
import mmpretrain
from mmengine.utils import digit_version

from .utils.safe_load import allow_mmengine_checkpoint_types
from .version import __version__, version_info

mmcv_minimum_version = '2.0.0'
mmcv_maximum_version = '2.2.0'
mmengine_minimum_version = '0.10.0'
mmengine_maximum_version = '1.0.0'
mmpretrain_minimum_version = '1.2.0'
mmpretrain_maximum_version = '1.3.0'


def _check(name, version, lo, hi):
    if not (digit_version(lo) <= digit_version(version) < digit_version(hi)):
        raise AssertionError(
            f'{name}=={version} is used but incompatible with ltcls. '
            f'Please install {name}>={lo}, <{hi} (see tools/install.sh).')


_check('mmcv', mmcv.__version__, mmcv_minimum_version, mmcv_maximum_version)
_check('mmengine', mmengine.__version__, mmengine_minimum_version,
       mmengine_maximum_version)
_check('mmpretrain', mmpretrain.__version__, mmpretrain_minimum_version,
       mmpretrain_maximum_version)

# torch >= 2.6 loads with weights_only=True; allow-list the few types
# mmengine checkpoints hold (never switch safe loading off).
allow_mmengine_checkpoint_types()

__all__ = ['__version__', 'version_info']
