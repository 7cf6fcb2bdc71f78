# Copyright (c) ltcls contributors. All rights reserved.
# One line per module; each module defines __all__.
from .multi_positive_nce import multi_positive_nce, reduce_anchor_loss
