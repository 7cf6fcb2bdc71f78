# Copyright (c) ltcls contributors. All rights reserved.
import mmpretrain.visualization  # noqa: F401  (registry look-ups from the ltcls scope fall back to mmpretrain's modules)
