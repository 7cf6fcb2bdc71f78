# Copyright (c) ltcls contributors. All rights reserved.
from .contrastive_classifier import *  # noqa: F401,F403
from .hybrid import *  # noqa: F401,F403
from .kcl import *  # noqa: F401,F403
from .supcon_classifier import *  # noqa: F401,F403
from .paco import *  # noqa: F401,F403
from .rescom import *  # noqa: F401,F403
from .sbcl import *  # noqa: F401,F403
