"""Device hygiene of the losses and queues, checked on CPU.

* Every tensor a loss creates follows its input's device: the forward and
  backward run with the default device set to ``meta``, so a
  ``torch.zeros(n)`` without ``device=`` becomes a meta tensor and the
  first op that mixes it with the CPU inputs raises (the sanity case below
  shows that it does).
* Host syncs (``.item()``, ``bool(t)``, ``nonzero``, mask indexing, ...)
  per call are counted with :class:`~ltcls.testing_device.HostSyncCounter`
  and must not exceed the budget below. What remains are the label-range
  checks of the losses' inputs (one or two ``int(labels.min() / max())``
  per loss; they name the bad label). The computation itself reads nothing
  back: ``multi_positive_nce`` / ``reduce_anchor_loss`` make none, and
  KCL's positive selection none.
"""
import pytest
import torch

from ltcls.models.losses.kcl_loss import select_positives
from ltcls.models.losses.multi_positive_nce import (multi_positive_nce,
                                                    reduce_anchor_loss)
from ltcls.models.memories import LabelledQueue
from ltcls.testing_device import HostSyncCounter, loss_cases, run_loss_case

CASES = loss_cases()
# host syncs per forward + backward (all from input label checks)
SYNC_BUDGET = {
    'CrossEntropyLoss': 0,
    'BalancedSoftmaxLoss': 2,
    'LDAMLoss': 2,
    'LogitAdjustLoss': 2,
    'SupConLoss (FCL / Hybrid-SC)': 1,
    'SupConLoss (in-batch KCL)': 1,
    'KCLLoss': 1,
    'PaCoLoss': 2,
    'PaCoLoss (GPaCo)': 2,
    'MultiTaskContrastiveLoss': 3,
    'ResComLoss': 3,
    'SBCLLoss': 5,  # + 1: check_global_subclass_ids
    'SBCLQueueLoss': 3,  # + 1: check_global_subclass_ids
    'PSCLoss (Hybrid-PSC)': 1,
}


def _total(out):
    if isinstance(out, dict):
        out = sum(v for k, v in out.items() if 'loss' in k)
    return out


def _backward(out):
    _total(out).backward()


def _forward_backward(module, args):
    out = _total(module(*args))
    out.backward()
    return out


def test_meta_default_device_catches_a_stray_tensor():
    x = torch.randn(3)
    with pytest.raises(RuntimeError):
        with torch.device('meta'):
            x + torch.ones(3)  # no device=: a meta tensor


@pytest.mark.parametrize('name', list(CASES))
def test_loss_tensors_follow_input_device(name):
    module, args, grad_inputs = CASES[name]('cpu', torch.float32)
    with torch.device('meta'):
        out = _forward_backward(module, args)
    assert out.device.type == 'cpu'
    for t in grad_inputs:
        assert t.grad is not None and t.grad.device.type == 'cpu'


def test_sync_budget_covers_every_case():
    assert set(SYNC_BUDGET) == set(CASES)


@pytest.mark.parametrize('name', list(CASES))
def test_loss_host_syncs(name):
    module, args, _ = CASES[name]('cpu', torch.float32)
    with HostSyncCounter(where=True) as sync:
        _forward_backward(module, args)
    assert sync.count <= SYNC_BUDGET[name], sync.where
    # what is left is input validation (int() of a label reduction)
    assert set(sync.ops) <= {'_local_scalar_dense'}, sync.where


def test_core_reads_nothing_back():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 9, generator=g, requires_grad=True)
    pos = torch.rand(6, 9, generator=g) < 0.3
    valid = torch.rand(6, 9, generator=g) < 0.8
    same = torch.rand(6, 40, generator=g) < 0.4
    with HostSyncCounter() as sync:
        loss, has_pos = multi_positive_nce(logits, pos, valid)
        reduce_anchor_loss(loss, has_pos).backward()
        multi_positive_nce(logits.detach(), pos.double(), valid,
                           check_weights=False)
        select_positives(same, 3, 'random', seed=1, step=2, row_offset=5)
    assert sync.count == 0, sync.ops


def test_reduce_without_positives_is_zero_with_graph():
    loss = torch.zeros(4, requires_grad=True)
    out = reduce_anchor_loss(loss, torch.zeros(4, dtype=torch.bool))
    out.backward()
    assert out.item() == 0.0 and torch.equal(loss.grad, torch.zeros(4))


def test_nan_logit_is_not_hidden():
    # a NaN among the valid columns makes the anchor's loss NaN (the
    # non-finite-loss check stops the run) instead of being masked
    logits = torch.zeros(2, 4)
    logits[0, 3] = float('nan')
    pos = torch.tensor([[True, False, False, False]] * 2)
    loss, _ = multi_positive_nce(logits, pos)
    assert torch.isnan(loss[0]) and torch.isfinite(loss[1])


def test_queue_enqueue_follows_device():
    q = LabelledQueue(8, 4)
    keys = torch.randn(3, 4)
    labels = torch.tensor([1, 2, 3])
    with torch.device('meta'):
        q.enqueue(keys, labels)
    assert q.keys.device.type == 'cpu'
    assert q.class_labels.tolist()[:3] == [1, 2, 3]


def test_float64_values_unchanged_by_device_path():
    # the same case twice on CPU: run_loss_case is deterministic, so the
    # GPU check's CPU-vs-device comparison is meaningful
    for name, make in CASES.items():
        a, ga = run_loss_case(make, 'cpu')
        b, gb = run_loss_case(make, 'cpu')
        assert torch.equal(a, b), name
        assert all(torch.equal(x, y) for x, y in zip(ga, gb)), name


@pytest.mark.parametrize('name', list(CASES))
@pytest.mark.parametrize('half', [torch.bfloat16, torch.float16])
def test_half_inputs_compute_in_float32_under_autocast(name, half):
    """bf16 / fp16 inputs under autocast give the float32 loss of the same
    (rounded) inputs: the losses upcast and keep autocast away from their
    similarity products, log-sum-exps and temperature divisions. The loss
    is float32 and the gradients come back in the input dtype."""
    module, args, grad_inputs = CASES[name]('cpu', half)
    rounded = [a.detach().float() if torch.is_tensor(a) and
               a.is_floating_point() else a for a in args]
    ref_args = []
    ref_grads = []
    for a, r in zip(args, rounded):
        if any(a is t for t in grad_inputs):
            r = r.clone().requires_grad_(True)
            ref_grads.append(r)
        ref_args.append(r)
    ref = _forward_backward(module, ref_args)
    with torch.autocast('cpu', dtype=half):
        out = module(*args)
    # backward outside autocast, as AmpOptimWrapper does
    _backward(out)
    out = _total(out)
    assert out.dtype == torch.float32, out.dtype
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    for t, r in zip(grad_inputs, ref_grads):
        assert t.grad.dtype == half
        assert torch.isfinite(t.grad).all()
        torch.testing.assert_close(
            t.grad.float(), r.grad.to(half).float(), rtol=1e-2, atol=1e-3)
