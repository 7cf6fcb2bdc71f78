# Copyright (c) ltcls contributors. All rights reserved.
from .sbcl import *  # noqa: F401,F403
