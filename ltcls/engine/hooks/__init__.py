# Copyright (c) ltcls contributors. All rights reserved.
from .num_classes_check_hook import NumClassesCheckHook

__all__ = ['NumClassesCheckHook']
