# Copyright (c) ltcls contributors. All rights reserved.
"""LabelledQueue: FIFO order, wrap-around, overflow, empty slots, ranks."""
import pytest
import torch
import torch.nn.functional as F

from ltcls.models.memories import EMPTY, LabelledQueue
from ltcls.testing import run_distributed


class RefFIFO:
    """Reference: the (key, label) pairs in age order, at most K of them."""

    def __init__(self, length):
        self.length = length
        self.items = []

    def push(self, keys, labels):
        for key, label in zip(keys, labels):
            self.items.append((F.normalize(key, dim=0), int(label)))
        self.items = self.items[-self.length:]


def _check_against_ref(queue, ref):
    """Read the ring from the write pointer (oldest first), skipping empty
    slots: it must be the reference sequence, and the next write must evict
    the oldest entry."""
    k = queue.length
    order = [(int(queue.ptr) + i) % k for i in range(k)]
    filled = [i for i in order if int(queue.class_labels[i]) != EMPTY]
    assert [int(queue.labels[i]) for i in filled] == \
        [label for _, label in ref.items]
    for i, (key, _) in zip(filled, ref.items):
        torch.testing.assert_close(queue.keys[i], key)
    assert queue.num_filled() == len(ref.items)
    assert int(queue.valid_mask().sum()) == len(ref.items)
    if len(ref.items) < k:  # not full yet: slots [0, n) filled, ptr = n
        assert int(queue.ptr) == len(ref.items)


def test_empty_queue():
    q = LabelledQueue(6, 3)
    assert q.labels.tolist() == [EMPTY] * 6
    assert not q.valid_mask().any()
    assert q.num_filled() == 0
    assert set(dict(q.named_buffers())) == {'keys', 'labels', 'ptr'}


@pytest.mark.parametrize('length', [1, 5, 8])
def test_random_sequence_matches_reference(length):
    g = torch.Generator().manual_seed(length)
    q, ref = LabelledQueue(length, 4), RefFIFO(length)
    # batch sizes below, equal to, and above the length (overflow)
    for n in [3, 1, length, 2 * length + 1, 4, 0 + 2]:
        keys = torch.randn(n, 4, generator=g)
        labels = torch.randint(0, 5, (n, ), generator=g)
        q.enqueue(keys, labels)
        ref.push(keys, labels)
        _check_against_ref(q, ref)


def test_wrap_around_positions():
    q = LabelledQueue(5, 2)
    q.enqueue(torch.ones(3, 2), torch.tensor([0, 1, 2]))
    assert q.labels.tolist() == [0, 1, 2, EMPTY, EMPTY]
    q.enqueue(torch.ones(3, 2), torch.tensor([3, 4, 5]))
    # oldest (slot 0) replaced by the last of the new batch
    assert q.labels.tolist() == [5, 1, 2, 3, 4]
    assert int(q.ptr) == 1
    # overflow: only the newest 5 of 7 survive, written from ptr on
    q.enqueue(torch.ones(7, 2), torch.arange(10, 17))
    assert sorted(q.labels.tolist()) == [12, 13, 14, 15, 16]
    assert int(q.ptr) == 1


def test_keys_normalised_and_state_dict_roundtrip():
    q = LabelledQueue(4, 3)
    q.enqueue(torch.tensor([[3., 0, 4], [0, 2, 0]]), torch.tensor([1, 2]))
    torch.testing.assert_close(q.keys[:2].norm(dim=1), torch.ones(2))
    q2 = LabelledQueue(4, 3)
    q2.load_state_dict(q.state_dict())
    assert torch.equal(q2.keys, q.keys) and torch.equal(q2.labels, q.labels)
    assert int(q2.ptr) == 2


def test_multi_field_labels():
    q = LabelledQueue(3, 2, num_label_fields=2)
    q.enqueue(torch.randn(2, 2), torch.tensor([1, 2]), torch.tensor([7, 8]))
    assert q.labels.tolist() == [[1, 7], [2, 8], [EMPTY, EMPTY]]
    assert q.class_labels.tolist() == [1, 2, EMPTY]
    assert q.valid_mask().tolist() == [True, True, False]


def test_bad_input():
    with pytest.raises(ValueError, match='length'):
        LabelledQueue(0, 2)
    with pytest.raises(ValueError, match='dim'):
        LabelledQueue(3, 0)
    q = LabelledQueue(3, 2)
    with pytest.raises(ValueError, match='keys'):
        q.enqueue(torch.randn(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='labels'):
        q.enqueue(torch.randn(2, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match='>= 0'):
        q.enqueue(torch.randn(2, 2), torch.tensor([0, -1]))


SIZES = (3, 2)


def _dist_enqueue(rank, world_size):
    g = torch.Generator().manual_seed(1)
    keys = torch.randn(2, sum(SIZES), 4, generator=g)
    labels = torch.randint(0, 9, (2, sum(SIZES)), generator=g)
    start = sum(SIZES[:rank])
    q = LabelledQueue(7, 4)
    for step in range(2):
        q.enqueue(keys[step, start:start + SIZES[rank]],
                  labels[step, start:start + SIZES[rank]])
    return dict(keys=q.keys, labels=q.labels, ptr=q.ptr)


def test_two_process_queue_equals_single_process():
    g = torch.Generator().manual_seed(1)
    keys = torch.randn(2, sum(SIZES), 4, generator=g)
    labels = torch.randint(0, 9, (2, sum(SIZES)), generator=g)
    single = LabelledQueue(7, 4)
    for step in range(2):  # the global batch in rank order
        single.enqueue(keys[step], labels[step])
    for res in run_distributed(_dist_enqueue, 2):
        torch.testing.assert_close(res['keys'], single.keys)
        assert torch.equal(res['labels'], single.labels)
        assert int(res['ptr']) == int(single.ptr)


def test_extra_label_fields_may_be_minus_one():
    """Only the class field marks empty slots; an extra field (e.g. SBCL's
    subclass id before the first clustering) may be -1, not below."""
    q = LabelledQueue(4, 2, num_label_fields=2)
    q.enqueue(torch.randn(2, 2), torch.tensor([0, 1]), torch.tensor([-1, 3]))
    labels = q.labels
    assert labels.tolist() == [[0, -1], [1, 3], [-1, -1], [-1, -1]]
    assert q.valid_mask().tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match='class labels enqueued must be'):
        q.enqueue(torch.randn(1, 2), torch.tensor([-1]), torch.tensor([0]))
    with pytest.raises(ValueError, match='extra label fields must be >= -1'):
        q.enqueue(torch.randn(1, 2), torch.tensor([0]), torch.tensor([-2]))
