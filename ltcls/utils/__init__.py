# Copyright (c) ltcls contributors. All rights reserved.
from .safe_load import (CorruptCheckpointError, UnsafeCheckpointError,
                        allow_mmengine_checkpoint_types, safe_torch_load)
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'allow_mmengine_checkpoint_types',
    'safe_torch_load', 'UnsafeCheckpointError', 'CorruptCheckpointError'
]
