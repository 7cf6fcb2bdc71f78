"""FashionMNISTLT from tiny IDX files written by the test (not the real
package): long-tail profiles against the closed form, file order,
max_per_class, the balanced test split, .gz and extracted files, errors."""
import gzip
import os.path as osp
import struct

import numpy as np
import pytest

from ltcls.datasets import FashionMNISTLT, long_tail_counts
from ltcls.registry import DATASETS

PER_CLASS = 40  # train images per class of the tiny files
TEST_PER_CLASS = 3
SIZE = 28  # the real image size, so the benchmark config trains on it


def _idx_bytes(arr: np.ndarray) -> bytes:
    """IDX (``magic = 0x08 << 8 | ndim``, big-endian dims, uint8 data)."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    head = struct.pack('>I', (0x08 << 8) | arr.ndim)
    head += b''.join(struct.pack('>I', d) for d in arr.shape)
    return head + arr.tobytes()


def _write(path, arr, gz=True):
    data = _idx_bytes(arr)
    if gz:
        with gzip.open(str(path) + '.gz', 'wb') as f:
            f.write(data)
    else:
        with open(str(path), 'wb') as f:
            f.write(data)


def _labels(n_per_class, rng):
    labels = np.repeat(np.arange(10), n_per_class)
    return labels[rng.permutation(len(labels))]


def _images(labels):
    # image k holds the value k % 251 at pixel (0, 0) and its label at
    # (0, 1), so the kept images can be traced back to the file
    imgs = np.zeros((len(labels), SIZE, SIZE), np.uint8)
    imgs[:, 0, 0] = np.arange(len(labels)) % 251
    imgs[:, 0, 1] = labels
    return imgs


@pytest.fixture
def root(tmp_path):
    rng = np.random.RandomState(0)
    train = _labels(PER_CLASS, rng)
    test = _labels(TEST_PER_CLASS, rng)
    _write(tmp_path / 'train-images-idx3-ubyte', _images(train))
    _write(tmp_path / 'train-labels-idx1-ubyte', train)
    # the test split as extracted files: both forms are accepted
    _write(tmp_path / 't10k-images-idx3-ubyte', _images(test), gz=False)
    _write(tmp_path / 't10k-labels-idx1-ubyte', test, gz=False)
    return dict(path=str(tmp_path), train=train, test=test)


def _closed_form(n_max, imb, profile):
    if profile == 'exp':
        return [int(n_max * (1 / imb)**(i / 9)) for i in range(10)]
    return [n_max] * 5 + [int(n_max / imb)] * 5


@pytest.mark.parametrize('profile', ['exp', 'step'])
@pytest.mark.parametrize('imb,max_per_class', [(10, None), (20, 30),
                                               (1, 25), (8, 1000)])
def test_profile_counts_and_file_order(root, profile, imb, max_per_class):
    ds = FashionMNISTLT(
        data_root=root['path'], imbalance_factor=imb, profile=profile,
        max_per_class=max_per_class)
    n_max = PER_CLASS if max_per_class is None else min(PER_CLASS,
                                                        max_per_class)
    want = _closed_form(n_max, imb, profile)
    assert ds.class_counts.tolist() == want
    assert ds.profile_counts == want
    assert want == long_tail_counts(n_max, 10, imb, profile)
    # the first n_i images of each class, in file order
    file_idx = [int(ds.get_data_info(i)['img'][0, 0, 0])
                for i in range(len(ds))]
    expected = []
    seen = np.zeros(10, int)
    for k, lab in enumerate(root['train']):
        if seen[lab] < want[lab]:
            expected.append(k % 251)
            seen[lab] += 1
    assert file_idx == expected
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['img'].shape == (SIZE, SIZE, 3)
        assert info['img'].dtype == np.uint8
        assert int(info['img'][0, 1, 0]) == info['gt_label']


def test_test_split_is_full_and_balanced(root):
    ds = FashionMNISTLT(data_root=root['path'], split='test', channels=1)
    assert len(ds) == 10 * TEST_PER_CLASS
    assert ds.class_counts.tolist() == [TEST_PER_CLASS] * 10
    assert ds.get_gt_labels().tolist() == root['test'].tolist()
    assert ds.get_data_info(0)['img'].shape == (SIZE, SIZE)


def test_class_names_and_registry(root):
    ds = DATASETS.build(
        dict(type='FashionMNISTLT', data_root=root['path'],
             imbalance_factor=10))
    assert isinstance(ds, FashionMNISTLT)
    assert ds.metainfo['classes'] == (
        'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
        'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
    assert ds.num_classes == 10


def test_missing_files_name_them_and_the_install_command(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        FashionMNISTLT(data_root=str(tmp_path))
    msg = str(e.value)
    assert 'train-images-idx3-ubyte.gz' in msg
    assert 'train-labels-idx1-ubyte.gz' in msg
    assert 'apt-get install dataset-fashion-mnist' in msg
    assert str(tmp_path) in msg


def test_bad_arguments(root):
    p = root['path']
    with pytest.raises(ValueError, match='imbalance_factor must be >= 1'):
        FashionMNISTLT(data_root=p, imbalance_factor=0.01)
    with pytest.raises(ValueError, match='profile'):
        FashionMNISTLT(data_root=p, profile='linear')
    with pytest.raises(ValueError, match='split'):
        FashionMNISTLT(data_root=p, split='val')
    with pytest.raises(ValueError, match='max_per_class'):
        FashionMNISTLT(data_root=p, max_per_class=0)
    with pytest.raises(ValueError, match='channels'):
        FashionMNISTLT(data_root=p, channels=2)
    with pytest.raises(ValueError, match='zero training images'):
        FashionMNISTLT(data_root=p, imbalance_factor=50)


def test_corrupt_and_inconsistent_files(root):
    path = osp.join(root['path'], 'train-labels-idx1-ubyte.gz')
    with gzip.open(path, 'wb') as f:
        f.write(b'\x00\x00\x08')  # truncated header
    with pytest.raises(ValueError, match='cannot read IDX file .*train-lab'):
        FashionMNISTLT(data_root=root['path'])
    _write(osp.join(root['path'], 'train-labels-idx1-ubyte'),
           root['train'][:-1])
    with pytest.raises(ValueError, match='labels'):
        FashionMNISTLT(data_root=root['path'])
    bad = root['train'].copy()
    bad[3] = 10
    _write(osp.join(root['path'], 'train-labels-idx1-ubyte'), bad)
    with pytest.raises(ValueError, match='label 10 of image 3'):
        FashionMNISTLT(data_root=root['path'])


@pytest.mark.slow
def test_benchmark_config_trains_on_tiny_files(root, tmp_path, repo_root):
    """tools/train.py + tools/test.py of the CE benchmark config for one
    short epoch on the tiny files (CI smoke test; no real data)."""
    import json
    import os
    import sys
    from importlib import import_module
    sys.path.insert(0, osp.join(repo_root, 'tools'))
    train, test = import_module('train'), import_module('test')
    cfg = 'configs/ce/ce_resnet20_1xb64-coslr-30e_fashion-mnist-lt-if100.py'
    work = str(tmp_path / 'work')
    data = [f'{k}.dataset.data_root={root["path"]}'
            for k in ('train_dataloader', 'val_dataloader',
                      'test_dataloader')]
    small = ['train_dataloader.dataset.imbalance_factor=10',
             'train_dataloader.batch_size=16', 'train_cfg.max_epochs=1',
             'train_cfg.val_interval=1',
             # 40..4 images per class: shot groups many > 20, few < 10
             'val_evaluator.0.many_thr=20', 'val_evaluator.0.few_thr=10',
             'test_evaluator.0.many_thr=20', 'test_evaluator.0.few_thr=10']
    cwd = os.getcwd()
    os.chdir(repo_root)
    try:
        train.main([cfg, '--work-dir', work, '--cfg-options'] + data + small)
        out = str(tmp_path / 'metrics.json')
        test.main([cfg, osp.join(work, 'epoch_1.pth'), '--work-dir', work,
                   '--out-metrics', out, '--cfg-options'] + data + small)
    finally:
        os.chdir(cwd)
    metrics = json.load(open(out))
    for key in ('accuracy/top1', 'accuracy/many', 'accuracy/medium',
                'accuracy/few'):
        assert 0 <= metrics[key] <= 100, metrics
