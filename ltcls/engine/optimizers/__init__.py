# Copyright (c) ltcls contributors. All rights reserved.
from .guarded_optim_wrapper import *  # noqa: F401,F403
