# Copyright (c) ltcls contributors. All rights reserved.
# One line per module; each module defines __all__.
from .multi_positive_nce import multi_positive_nce, reduce_anchor_loss
from .class_prior import *  # noqa: F401,F403
from .balanced_softmax_loss import *  # noqa: F401,F403
from .ldam_loss import *  # noqa: F401,F403
from .logit_adjust_loss import *  # noqa: F401,F403
from .psc_loss import *  # noqa: F401,F403
from .supcon_loss import *  # noqa: F401,F403
from .kcl_loss import *  # noqa: F401,F403
from .contrast_blocks import *  # noqa: F401,F403
from .paco_loss import *  # noqa: F401,F403
from .hard_pair_mining import *  # noqa: F401,F403
from .rescom_loss import *  # noqa: F401,F403
from .sbcl_loss import *  # noqa: F401,F403
from .multitask_loss import *  # noqa: F401,F403
