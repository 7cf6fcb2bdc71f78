# Copyright (c) ltcls contributors. All rights reserved.
from .normed_linear_head import *  # noqa: F401,F403
from .tau_norm_head import *  # noqa: F401,F403
from .logit_adjusted_head import *  # noqa: F401,F403
