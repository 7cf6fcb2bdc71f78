# Copyright (c) ltcls contributors. All rights reserved.
from .gather import (all_gather_with_grad, concat_all_gather, rank_offset,
                     world_info)
from .subclass_clustering import *  # noqa: F401,F403
from .data_preprocessor import *  # noqa: F401,F403
from .effective_num import *  # noqa: F401,F403
from .freeze import *  # noqa: F401,F403
from .init_cfg import *  # noqa: F401,F403
from .loss_protocol import *  # noqa: F401,F403
