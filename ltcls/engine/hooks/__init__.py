# Copyright (c) ltcls contributors. All rights reserved.
from .num_classes_check_hook import NumClassesCheckHook

__all__ = ['NumClassesCheckHook']
from .atomic_checkpoint_hook import *  # noqa: F401,F403
from .class_counts_hook import *  # noqa: F401,F403
from .drw_hook import *  # noqa: F401,F403
from .curriculum_hook import *  # noqa: F401,F403
from .det_precise_bn_hook import *  # noqa: F401,F403
from .queue_warmup_hook import *  # noqa: F401,F403
from .subclass_clustering_hook import *  # noqa: F401,F403
from .exact_resume_hook import *  # noqa: F401,F403
from .nonfinite_guard_hook import *  # noqa: F401,F403
from .interrupt_hook import *  # noqa: F401,F403
