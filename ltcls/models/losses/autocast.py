# Copyright (c) ltcls contributors. All rights reserved.
"""Keep autocast out of the losses' own numerics.

Under ``torch.autocast`` (mmengine's ``AmpOptimWrapper``, ``--amp``) a
matmul runs in float16 / bfloat16 *whatever the dtype of its inputs*, so a
loss that upcasts its embeddings to float32 would still get half-precision
similarities, temperature-scaled by 1 / t (up to ~14x) before its
log-sum-exp. :func:`autocast_off` runs a function with autocast disabled
for the device types where it is on; the function then computes in the
dtype it chose (float32 for half / bfloat16 inputs, see
``compute_dtype_of``) and autograd returns gradients in the input dtype.
Without autocast it is a no-op, so float32 / float64 values are unchanged.
"""
import contextlib
import functools

import torch

__all__ = ['autocast_off']


def autocast_off(fn):
    """Decorator: call ``fn`` with autocast disabled (where enabled)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        types = {'cpu', 'cuda'}
        types.update(a.device.type for a in args if torch.is_tensor(a))
        on = [t for t in sorted(types) if torch.is_autocast_enabled(t)]
        if not on:
            return fn(*args, **kwargs)
        with contextlib.ExitStack() as stack:
            for t in on:
                stack.enter_context(torch.autocast(t, enabled=False))
            return fn(*args, **kwargs)

    return wrapper
