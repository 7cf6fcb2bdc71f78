# Copyright (c) ltcls contributors. All rights reserved.
"""Optimizer wrappers that never apply a non-finite step.

mmengine's ``OptimWrapper.update_params`` steps whatever the loss and the
gradients are: a NaN loss turns every weight into NaN at once. These
wrappers check, at each parameter update, that the loss and the total
gradient norm are finite, and skip ``optimizer.step()`` otherwise; the
event is left in :attr:`nonfinite_event` for
:class:`~ltcls.engine.hooks.NonFiniteGuardHook`, which names the loss terms
and stops the run (the default) or counts the skipped step.

Cost: the two flags are combined on the device and read with a single
``.item()`` per parameter update (one host sync; mmengine already syncs
once per loss term to log them). The gradient norm is one fused
``torch.nn.utils.get_total_norm`` over the gradients. With several ranks
the flag is all-reduced (MIN), so that every rank skips or stops together.
"""
from typing import Dict, List, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from ltcls.registry import OPTIM_WRAPPERS

__all__ = ['GuardedOptimWrapper', 'GuardedAmpOptimWrapper']


class _NonFiniteGuardMixin:
    """``update_params`` that steps only if the loss (and, if
    ``check_grad_norm``, the gradient norm) is finite."""

    #: whether the gradient norm is checked by default
    check_grad_norm_default = True

    def _init_guard(self, check_grad_norm: Optional[bool]) -> None:
        if check_grad_norm is None:
            check_grad_norm = self.check_grad_norm_default
        if not isinstance(check_grad_norm, bool):
            raise TypeError('check_grad_norm must be a bool, got '
                            f'{check_grad_norm!r}')
        self.check_grad_norm = check_grad_norm
        #: dict(loss=float, grad_norm=float or None) of the last skipped
        #: update, cleared by whoever handles it (NonFiniteGuardHook)
        self.nonfinite_event: Optional[Dict[str, Optional[float]]] = None

    def _grads(self) -> List[torch.Tensor]:
        return [
            p.grad for group in self.optimizer.param_groups
            for p in group['params'] if p.grad is not None
        ]

    def _step_is_finite(self, loss: torch.Tensor) -> bool:
        flag = torch.isfinite(loss.detach()).all()
        norm = None
        if self.check_grad_norm:
            grads = self._grads()
            if grads:
                norm = torch.nn.utils.get_total_norm(grads)
                flag = flag & torch.isfinite(norm).to(flag.device)
        if get_world_size() > 1:
            flag = flag.to(torch.int32)
            all_reduce(flag, op='min')
        if bool(flag.item()):  # the single host sync of the check
            return True
        self.nonfinite_event = dict(
            loss=float(loss.detach().float().sum()),
            grad_norm=None if norm is None else float(norm))
        return False

    def update_params(self,
                      loss: torch.Tensor,
                      step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        """``OptimWrapper.update_params`` with the finiteness check before
        ``step`` (the gradients are zeroed either way)."""
        if step_kwargs is None:
            step_kwargs = {}
        if zero_kwargs is None:
            zero_kwargs = {}
        loss = self.scale_loss(loss)
        self.backward(loss)
        if self.should_update():
            if self._step_is_finite(loss):
                self.step(**step_kwargs)
            self.zero_grad(**zero_kwargs)


@OPTIM_WRAPPERS.register_module()
class GuardedOptimWrapper(_NonFiniteGuardMixin, OptimWrapper):
    """mmengine's ``OptimWrapper`` that skips non-finite updates (see the
    module doc). ``default_runtime.py`` makes it the default.

    Args:
        check_grad_norm (bool): Also require a finite total gradient norm.
            Defaults to True.
        **kwargs: See mmengine's ``OptimWrapper``.
    """

    def __init__(self, *args, check_grad_norm: Optional[bool] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_guard(check_grad_norm)


@OPTIM_WRAPPERS.register_module()
class GuardedAmpOptimWrapper(_NonFiniteGuardMixin, AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` that skips updates with a non-finite
    loss. The gradient norm is not checked by default: with a dynamic loss
    scale, inf gradients are expected now and then and the ``GradScaler``
    already skips those steps.

    Args:
        check_grad_norm (bool): Also require a finite (scaled) gradient
            norm. Defaults to False.
        **kwargs: See mmengine's ``AmpOptimWrapper``.
    """

    check_grad_norm_default = False

    def __init__(self, *args, check_grad_norm: Optional[bool] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_guard(check_grad_norm)
