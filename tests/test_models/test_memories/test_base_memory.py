# Copyright (c) ltcls contributors. All rights reserved.
"""The memory protocol (ltcls.models.memories.BaseMemory): enqueue with any
number of label fields, empty = -1, detached snapshots, the init policy
owned by the memory, rank gathering."""
import pytest
import torch
import torch.nn.functional as F

from ltcls.models.memories import (EMPTY, BaseMemory, ClassBalancedQueue,
                                   LabelledQueue, MemorySnapshot)
from ltcls.registry import MODELS
from ltcls.testing import run_distributed


def _unit(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g), dim=1)


def test_fifo_order_and_wraparound_with_three_label_fields():
    q = LabelledQueue(5, 2, num_label_fields=3)
    assert q.labels.shape == (5, 3) and (q.labels == EMPTY).all()
    k1 = _unit(3, 2, 0)
    q.enqueue(k1, torch.tensor([0, 1, 2]), torch.tensor([10, 11, -1]),
              torch.tensor([20, 21, 22]))
    snap = q.snapshot()
    assert snap.labels.tolist() == [0, 1, 2, EMPTY, EMPTY]
    assert [f.tolist() for f in snap.fields] == [
        [0, 1, 2, -1, -1], [10, 11, -1, -1, -1], [20, 21, 22, -1, -1]]
    assert snap.valid.tolist() == [True, True, True, False, False]
    torch.testing.assert_close(snap.keys[:3], k1)
    # wrap-around: slots 3, 4, then 0 (oldest out)
    k2 = _unit(3, 2, 1)
    q.enqueue(k2, torch.tensor([3, 4, 5]), torch.tensor([13, 14, 15]),
              torch.tensor([23, 24, 25]))
    snap = q.snapshot()
    assert snap.labels.tolist() == [5, 1, 2, 3, 4]
    assert snap.fields[1].tolist() == [15, 11, -1, 13, 14]
    assert snap.fields[2].tolist() == [25, 21, 22, 23, 24]
    assert snap.valid.all() and int(q.ptr) == 1
    torch.testing.assert_close(snap.keys[[3, 4, 0]], k2)
    torch.testing.assert_close(snap.keys[1:3], k1[1:])


def test_snapshot_is_a_detached_copy():
    q = LabelledQueue(4, 3, num_label_fields=2)
    keys = _unit(2, 3, 0).requires_grad_()
    q.enqueue(keys, torch.tensor([1, 2]), torch.tensor([-1, 7]))
    snap = q.snapshot()
    assert isinstance(snap, MemorySnapshot)
    assert not snap.keys.requires_grad and snap.keys.grad_fn is None
    before = [t.clone() for t in (snap.keys, snap.labels, snap.valid,
                                  *snap.fields)]
    q.enqueue(_unit(4, 3, 1), torch.tensor([3, 3, 3, 3]),
              torch.tensor([0, 0, 0, 0]))
    after = (snap.keys, snap.labels, snap.valid, *snap.fields)
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert snap.keys.data_ptr() != q.keys.data_ptr()
    assert torch.equal(snap.fields[0], snap.labels)
    # and writing into the snapshot does not touch the memory
    snap.keys.zero_()
    assert q.keys.abs().sum() > 0


def test_class_balanced_snapshot_and_write():
    q = ClassBalancedQueue(3, 2, 2, init='empty')
    snap = q.snapshot()
    assert (snap.labels == EMPTY).all() and not snap.valid.any()
    keys = _unit(5, 2, 0)
    q.enqueue(keys, torch.tensor([2, 0, 2, 2, 1]))
    snap = q.snapshot()
    # class c owns slots [2c, 2c + 2); three keys of class 2 in a batch of
    # Q = 2: the last two survive, in order (the first wraps over)
    assert snap.labels.tolist() == [0, EMPTY, 1, EMPTY, 2, 2]
    assert snap.valid.tolist() == [True, False, True, False, True, True]
    assert len(snap.fields) == 1 and torch.equal(snap.fields[0], snap.labels)
    torch.testing.assert_close(snap.keys[0], keys[1])
    torch.testing.assert_close(snap.keys[2], keys[4])
    torch.testing.assert_close(snap.keys[4], keys[3])  # written last
    torch.testing.assert_close(snap.keys[5], keys[2])
    assert q.ptr.tolist() == [1, 1, 1]
    q.enqueue(_unit(1, 2, 1), torch.tensor([0]))
    assert snap.labels.tolist() == [0, EMPTY, 1, EMPTY, 2, 2]  # unchanged


def test_init_policy_is_owned_by_the_memory():
    torch.manual_seed(0)
    q = LabelledQueue(16, 4, init='random', num_classes=3)
    # the official PaCo init: normalised along dim 0, labels in [0, C)
    torch.testing.assert_close(q.keys.norm(dim=0), torch.ones(4))
    assert ((q.labels >= 0) & (q.labels < 3)).all()
    assert q.snapshot().valid.all()
    torch.manual_seed(0)
    expected = F.normalize(torch.randn(16, 4), dim=0)
    expected_labels = torch.randint(0, 3, (16, ))
    assert torch.equal(q.keys, expected)
    assert torch.equal(q.labels, expected_labels)
    # extra label fields of a random init stay empty
    two = LabelledQueue(4, 2, num_label_fields=2, init='random',
                        num_classes=2)
    assert (two.labels[:, 1] == EMPTY).all() and two.snapshot().valid.all()
    assert not LabelledQueue(4, 2).snapshot().valid.any()
    cb = ClassBalancedQueue(2, 3, 4)  # 'random' by default (official)
    assert cb.init == 'random' and cb.snapshot().valid.all()
    with pytest.raises(ValueError, match='num_classes'):
        LabelledQueue(4, 2, init='random')
    with pytest.raises(ValueError, match=r"init must be one of \('empty', "
                       r"'random'\), got 'zeros'"):
        LabelledQueue(4, 2, init='zeros')
    # the init is not state: a checkpoint overrides it
    empty = LabelledQueue(16, 4)
    empty.load_state_dict(q.state_dict())
    assert torch.equal(empty.keys, q.keys)


def test_enqueue_protocol_errors():
    q = LabelledQueue(4, 2, num_label_fields=2)
    with pytest.raises(ValueError, match='expected 2 label field'):
        q.enqueue(_unit(2, 2, 0), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r'label field 0 .* shape \(2,\)'):
        q.enqueue(_unit(2, 2, 0), torch.tensor([[0, 1], [1, 2]]),
                  torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r'keys must be \(B, 2\)'):
        q.enqueue(_unit(2, 3, 0), torch.tensor([0, 1]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='class labels enqueued must be'):
        q.enqueue(_unit(1, 2, 0), torch.tensor([-1]), torch.tensor([0]))
    assert q.num_filled() == 0


def test_registered_and_buildable_as_a_classifier_queue():
    q = MODELS.build(dict(type='LabelledQueue', length=3, dim=2))
    assert isinstance(q, BaseMemory)
    cb = MODELS.build(
        dict(type='ClassBalancedQueue', num_classes=2, size_per_class=2,
             dim=2, init='empty'))
    assert isinstance(cb, BaseMemory)
    # state-dict keys are those of earlier checkpoints
    assert set(q.state_dict()) == {'keys', 'labels', 'ptr'}
    assert set(cb.state_dict()) == {'keys', 'ptr', 'filled'}


# ---------------------------------------------------------------------------
SIZES = (3, 2)


def _global_batches():
    g = torch.Generator().manual_seed(3)
    n = sum(SIZES)
    return [(torch.randn(n, 4, generator=g),
             torch.randint(0, 4, (n, ), generator=g),
             torch.randint(-1, 9, (n, ), generator=g)) for _ in range(3)]


def _dist_two_fields(rank, world_size):
    start = sum(SIZES[:rank])
    sl = slice(start, start + SIZES[rank])
    fifo = LabelledQueue(7, 4, num_label_fields=2)
    cb = ClassBalancedQueue(4, 2, 4, init='empty')
    for keys, cls, sub in _global_batches():
        fifo.enqueue(keys[sl], cls[sl], sub[sl])
        cb.enqueue(keys[sl], cls[sl])
    s, c = fifo.snapshot(), cb.snapshot()
    return dict(keys=s.keys, cls=s.fields[0], sub=s.fields[1],
                cb_keys=c.keys, cb_labels=c.labels, ptr=fifo.ptr,
                cb_ptr=cb.ptr)


def test_two_process_enqueue_equals_one_process_on_the_global_batch():
    fifo = LabelledQueue(7, 4, num_label_fields=2)
    cb = ClassBalancedQueue(4, 2, 4, init='empty')
    for keys, cls, sub in _global_batches():  # rank order
        fifo.enqueue(keys, cls, sub)
        cb.enqueue(keys, cls)
    s, c = fifo.snapshot(), cb.snapshot()
    for res in run_distributed(_dist_two_fields, 2):
        assert torch.equal(res['keys'], s.keys)
        assert torch.equal(res['cls'], s.fields[0])
        assert torch.equal(res['sub'], s.fields[1])
        assert torch.equal(res['cb_keys'], c.keys)
        assert torch.equal(res['cb_labels'], c.labels)
        assert torch.equal(res['ptr'], fifo.ptr)
        assert torch.equal(res['cb_ptr'], cb.ptr)
