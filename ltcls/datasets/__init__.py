# Copyright (c) ltcls contributors. All rights reserved.
from .digits_lt import DigitsLT
from .long_tail import LongTailMixin, long_tail_counts

__all__ = ['DigitsLT', 'LongTailMixin', 'long_tail_counts']
from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
