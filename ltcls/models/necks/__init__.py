# Copyright (c) ltcls contributors. All rights reserved.
from .projection_mlp import *  # noqa: F401,F403
