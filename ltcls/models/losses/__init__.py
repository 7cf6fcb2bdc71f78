# Copyright (c) ltcls contributors. All rights reserved.
# One line per module; each module defines __all__.
from .multi_positive_nce import multi_positive_nce, reduce_anchor_loss
from .class_prior import *  # noqa: F401,F403
from .balanced_softmax_loss import *  # noqa: F401,F403
from .ldam_loss import *  # noqa: F401,F403
from .logit_adjust_loss import *  # noqa: F401,F403
from .sbcl_loss import *  # noqa: F401,F403
