# Copyright (c) ltcls contributors. All rights reserved.
from .checked_runner import *  # noqa: F401,F403
