# Copyright (c) ltcls contributors. All rights reserved.
from .long_tail_accuracy import *  # noqa: F401,F403
from .balancedness import *  # noqa: F401,F403
