# Copyright (c) ltcls contributors. All rights reserved.
import mmpretrain.models  # noqa: F401  (registry look-ups from the ltcls scope fall back to mmpretrain's modules)
from .backbones import *  # noqa: F401,F403
from .classifiers import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .memories import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
