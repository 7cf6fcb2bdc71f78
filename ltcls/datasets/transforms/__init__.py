# Copyright (c) ltcls contributors. All rights reserved.
from .strict_loading import *  # noqa: F401,F403
