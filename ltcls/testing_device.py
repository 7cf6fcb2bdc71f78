# Copyright (c) ltcls contributors. All rights reserved.
"""Device / dtype hygiene helpers shared by the tests and the GPU check
(``tools/analysis_tools/benchmark_gpu_step.py``).

* :class:`HostSyncCounter`: counts the ops that make the host wait for the
  device (``.item()`` / ``int()`` / ``bool()`` on a tensor, ``nonzero``,
  boolean-mask indexing, ``bincount`` / ``unique`` / ``repeat_interleave``
  whose output size depends on the data). On CPU they cost nothing, on
  CUDA each one drains the launch queue, so counting them on CPU tells
  what a CUDA step will do.
* :func:`loss_cases`: every ltcls loss (and mmpretrain's CE) with random
  inputs of the training shapes, built on any device and dtype from a CPU
  generator, so the same inputs run on CPU and CUDA.
* :func:`run_loss_case`: forward + backward of one case; the loss and the
  input gradients.
"""
import os
import traceback
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ['HostSyncCounter', 'loss_cases', 'run_loss_case']

_aten = torch.ops.aten
# ops whose result (or output size) is read back to the host
_SYNC_OPS = {
    _aten._local_scalar_dense.default,  # .item(), int(t), bool(t), float(t)
    _aten.is_nonzero.default,
    _aten.nonzero.default,
    _aten.masked_select.default,
    _aten.bincount.default,  # CUDA: the max label sizes the output
    _aten._unique2.default,
    _aten.unique_dim.default,
    _aten.unique_consecutive.default,
    _aten.equal.default,
}


class HostSyncCounter(TorchDispatchMode):
    """Count host-device synchronisations of the ops run under it.

    Example:
        >>> with HostSyncCounter() as c:
        ...     loss = module(*inputs); loss.backward()
        >>> c.count, c.ops   # number and names of the syncing ops

    Boolean-mask indexing (``x[mask]``, ``x[mask] = v``) and
    ``repeat_interleave`` without ``output_size`` count as one sync each.
    """

    def __init__(self, where: bool = False):
        super().__init__()
        self.ops: List[str] = []
        self.where: List[str] = [] if where else None

    def _add(self, op: str) -> None:
        self.ops.append(op)
        if self.where is not None:  # the innermost ltcls frame
            frames = [
                f for f in traceback.extract_stack()
                if f'{os.sep}ltcls{os.sep}' in f.filename
                and 'testing_device' not in f.filename
            ]
            f = frames[-1] if frames else None
            self.where.append(
                f'{op} @ {f.filename.split(os.sep + "ltcls" + os.sep)[-1]}:'
                f'{f.lineno}' if f else f'{op} @ (outside ltcls)')

    @property
    def count(self) -> int:
        return len(self.ops)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _SYNC_OPS:
            self._add(str(func.overloadpacket.__name__))
        elif func in (_aten.index.Tensor, _aten.index_put.default,
                      _aten.index_put_.default):
            idx = args[1] if len(args) > 1 else kwargs.get('indices', ())
            if any(t is not None and t.dtype == torch.bool for t in idx):
                self._add('bool_mask_index')
        elif func in (_aten.repeat_interleave.Tensor,
                      _aten.repeat_interleave.self_Tensor) and \
                kwargs.get('output_size') is None:
            self._add('repeat_interleave')
        return func(*args, **kwargs)


# --------------------------------------------------------------------------
# random inputs of every loss
N_CLS = 10


def _counts() -> List[int]:
    return [int(round(100 * 0.5**(i / 2))) for i in range(N_CLS)]


def _unit(g, *shape):
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64),
                       dim=-1)


def _labels(g, n, hi=N_CLS):
    return torch.randint(0, hi, (n, ), generator=g)


def loss_cases(batch: int = 8, dim: int = 16,
               queue: int = 32) -> Dict[str, Callable]:
    """``{name: make}``; ``make(device, dtype)`` returns ``(module, args,
    grad_inputs)``: the built loss module (on ``device``), its forward
    arguments and the float tensors among them whose gradients are
    compared. Inputs are drawn on CPU (float64) from a fixed seed and then
    moved, so every device and dtype sees the same values.
    """
    from ltcls.registry import MODELS
    b, d, k = batch, dim, queue

    def build(cfg, device):
        import ltcls.models  # noqa: F401  (registers the losses)
        from mmengine.registry import DefaultScope
        torch.manual_seed(0)  # PSCLoss draws its prototypes at build
        with DefaultScope.overwrite_default_scope('ltcls'):
            m = MODELS.build(cfg)
        if callable(getattr(m, 'set_class_counts', None)):
            m.set_class_counts(_counts())
        return m.to(device)

    def case(cfg, make_args, n_grad):
        def make(device, dtype):
            g = torch.Generator().manual_seed(0)
            args = list(make_args(g))
            out = []
            for a in args:
                if torch.is_tensor(a):
                    a = a.to(device)
                    if a.is_floating_point():
                        a = a.to(dtype)
                out.append(a)
            grads = []
            for i in range(n_grad):
                out[i] = out[i].detach().requires_grad_(True)
                grads.append(out[i])
            return build(cfg, device), out, grads

        return make

    def logits(g, n=b):
        return torch.randn(n, N_CLS, generator=g, dtype=torch.float64) * 3

    def qlab(g):  # a queue with 4 empty slots
        return torch.cat([_labels(g, k - 4), -torch.ones(4).long()])

    def paco_args(g):  # centers, anchors, momentum keys, queue
        y = _labels(g, b)
        return (logits(g), _unit(g, b, d), y, _unit(g, b, d), y,
                _unit(g, k, d), qlab(g))

    def global_sub(g, y):  # 3 subclasses per class, ids global (y * 3 + j)
        return y * 3 + _labels(g, len(y), 3)

    def sbcl_args(g):
        y = _labels(g, b)
        return (_unit(g, b, 2, d), y, global_sub(g, y),
                torch.rand(N_CLS, generator=g, dtype=torch.float64) * 0.1 +
                0.05)

    def sbcl_queue_args(g):
        y, qy = _labels(g, b), qlab(g)
        return (_unit(g, b, d), _unit(g, b, d), y, global_sub(g, y),
                _unit(g, k, d), qy,
                torch.where(qy >= 0, global_sub(g, qy.clamp(min=0)), -1))

    cases = {
        'CrossEntropyLoss': case(
            dict(type='mmpretrain.CrossEntropyLoss'),
            lambda g: (logits(g), _labels(g, b)), 1),
        'BalancedSoftmaxLoss': case(
            dict(type='BalancedSoftmaxLoss'),
            lambda g: (logits(g), _labels(g, b)), 1),
        'LDAMLoss': case(
            dict(type='LDAMLoss'), lambda g: (logits(g), _labels(g, b)), 1),
        'LogitAdjustLoss': case(
            dict(type='LogitAdjustLoss'),
            lambda g: (logits(g), _labels(g, b)), 1),
        'SupConLoss (FCL / Hybrid-SC)': case(
            dict(type='SupConLoss', temperature=0.1),
            lambda g: (_unit(g, b, 2, d), _labels(g, b)), 1),
        'SupConLoss (in-batch KCL)': case(
            dict(type='SupConLoss', temperature=0.1, pos_k=2),
            lambda g: (_unit(g, b, 2, d), _labels(g, b)), 1),
        'KCLLoss': case(
            dict(type='KCLLoss', pos_k=3),
            lambda g: (_unit(g, b, d), _unit(g, b, d), _labels(g, b),
                       _unit(g, k, d), qlab(g)), 1),
        'PaCoLoss': case(dict(type='PaCoLoss'), paco_args, 2),
        'PaCoLoss (GPaCo)': case(
            dict(type='PaCoLoss', center_rebalance=False,
                 label_smoothing=0.1),
            lambda g: (logits(g, 2 * b), _unit(g, 2 * b, d),
                       _labels(g, b).repeat(2), None, None, _unit(g, k, d),
                       qlab(g), b), 2),
        'MultiTaskContrastiveLoss': case(
            dict(type='MultiTaskContrastiveLoss'), paco_args, 2),
        'ResComLoss': case(
            dict(type='ResComLoss', num_pos=1, num_neg=8),
            lambda g: (logits(g, 2 * b), _unit(g, 2 * b, d), _labels(g, b),
                       _unit(g, N_CLS * 4, d),
                       torch.arange(N_CLS).repeat_interleave(4)), 2),
        'SBCLLoss': case(dict(type='SBCLLoss'), sbcl_args, 1),
        'SBCLQueueLoss': case(dict(type='SBCLQueueLoss'), sbcl_queue_args,
                              1),
        'PSCLoss (Hybrid-PSC)': case(
            dict(type='PSCLoss', num_classes=N_CLS, feat_dim=d),
            lambda g: (_unit(g, b, d), _labels(g, b)), 1),
    }
    return cases


def run_loss_case(make: Callable, device, dtype=torch.float64
                  ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
    """Forward + backward of ``make(device, dtype)``; returns the scalar
    loss (a dict of losses is summed) and the gradients of the inputs."""
    module, args, grad_inputs = make(device, dtype)
    module = module.to(dtype) if dtype == torch.float64 else module
    out = module(*args)
    if isinstance(out, dict):
        out = sum(v for n, v in out.items() if 'loss' in n)
    out.backward()
    return out.detach(), [t.grad for t in grad_inputs]
