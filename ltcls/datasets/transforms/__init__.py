# Copyright (c) ltcls contributors. All rights reserved.
from .strict_loading import *  # noqa: F401,F403
from .cifar10_autoaugment import *  # noqa: F401,F403
from .timm_rand_augment import *  # noqa: F401,F403
