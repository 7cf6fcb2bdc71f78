# Copyright (c) ltcls contributors. All rights reserved.
import mmpretrain.engine  # noqa: F401  (registry look-ups from the ltcls scope fall back to mmpretrain's modules)
from .hooks import *  # noqa: F401,F403
from .runners import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
