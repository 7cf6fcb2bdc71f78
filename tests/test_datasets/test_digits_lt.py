import numpy as np
import pytest

from ltcls.datasets import DigitsLT, long_tail_counts
from ltcls.registry import DATASETS


def test_long_tail_counts_cifar_protocol():
    # LDAM/BBN protocol totals
    assert sum(long_tail_counts(500, 100, 100)) == 10847
    assert sum(long_tail_counts(5000, 10, 100)) == 12406
    assert sum(long_tail_counts(500, 100, 50)) == 12608
    assert sum(long_tail_counts(500, 100, 10)) == 19573
    c = long_tail_counts(500, 100, 100)
    assert c[0] == 500 and c[-1] == 5
    step = long_tail_counts(500, 100, 10, profile='step')
    assert step[:50] == [500] * 50 and step[50:] == [50] * 50
    assert long_tail_counts(7, 3, 1) == [7, 7, 7]


@pytest.mark.parametrize('bad', [0.5, 0, -3, float('nan')])
def test_invalid_imbalance_factor(bad):
    with pytest.raises(ValueError, match='imbalance_factor must be >= 1'):
        long_tail_counts(100, 10, bad)
    with pytest.raises(ValueError, match='imbalance_factor must be >= 1'):
        DigitsLT(imbalance_factor=bad)


def test_digits_lt_counts_follow_profile():
    for imb in (10, 50):
        ds = DATASETS.build(dict(type='DigitsLT', imbalance_factor=imb))
        counts = ds.class_counts
        n_max = int(counts[0])
        expected = long_tail_counts(n_max, 10, imb)
        assert counts.tolist() == expected
        assert len(ds) == sum(expected)
        # n_max is the smallest per-class pool after holding out 50 test
        # images per class; sklearn digits has 174..183 images per class.
        assert 120 <= n_max <= 133
        # the tail class has int(n_max / IF) images (LDAM arithmetic)
        assert counts[-1] == int(n_max * (1.0 / imb)) >= 1


def test_digits_lt_test_split_balanced_and_disjoint():
    train = DigitsLT(split='train', imbalance_factor=10)
    test = DigitsLT(split='test')
    assert test.class_counts.tolist() == [50] * 10
    tr = {train.get_data_info(i)['img'].tobytes() for i in range(len(train))}
    te = [test.get_data_info(i)['img'].tobytes() for i in range(len(test))]
    # the held-out split does not share samples with the train split
    # (a few digits are pixel-identical duplicates in sklearn; allow those)
    assert sum(t in tr for t in te) <= 3
    info = test.get_data_info(0)
    assert info['img'].shape == (32, 32, 3) and info['img'].dtype == np.uint8
    assert info['sample_idx'] == 0


def test_digits_lt_deterministic():
    a = DigitsLT(imbalance_factor=20)
    b = DigitsLT(imbalance_factor=20)
    assert [a.get_data_info(i)['gt_label'] for i in range(len(a))] == \
        [b.get_data_info(i)['gt_label'] for i in range(len(b))]
    assert (a.get_data_info(7)['img'] == b.get_data_info(7)['img']).all()


def test_digits_lt_zero_images_is_an_error():
    with pytest.raises(ValueError, match=r'class ids \[.*9\] .*zero '
                       'training images'):
        DigitsLT(imbalance_factor=1000)


def test_digits_lt_bad_split():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        DigitsLT(split='val')
