# Copyright (c) ltcls contributors. All rights reserved.
import mmpretrain.datasets  # noqa: F401  (registry look-ups from the ltcls scope fall back to mmpretrain's modules)
from .digits_lt import DigitsLT
from .long_tail import LongTailMixin, long_tail_counts

__all__ = ['DigitsLT', 'LongTailMixin', 'long_tail_counts']
from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
from .txt_lt import *  # noqa: F401,F403
from .cifar_lt import *  # noqa: F401,F403
from .dual_stream import *  # noqa: F401,F403
from .fashion_mnist_lt import *  # noqa: F401,F403
