# Copyright (c) ltcls contributors. All rights reserved.
from .class_aware import *  # noqa: F401,F403
from .class_prob import *  # noqa: F401,F403
from .dual_stream_sampler import *  # noqa: F401,F403
