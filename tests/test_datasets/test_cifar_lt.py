# Copyright (c) ltcls contributors. All rights reserved.
"""CIFAR10LT / CIFAR100LT on small fake CIFAR python pickles written in the
official on-disk layout (cifar-10-batches-py/data_batch_1..5, test_batch,
batches.meta; cifar-100-python/train, test, meta)."""
import math
import os
import os.path as osp
import pickle

import numpy as np
import pytest
from mmengine.config import Config

from ltcls.datasets import CIFAR10LT, CIFAR100LT
from ltcls.registry import DATASETS


def _dump(path, obj, bytes_keys):
    if bytes_keys:  # what the official files give with encoding='bytes'
        obj = {k.encode('latin1'): v for k, v in obj.items()}
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=2)


def make_fake_cifar(root,
                    cifar100=False,
                    per_class_train=50,
                    per_class_test=4,
                    seed=0,
                    bytes_keys=True,
                    bad_label=None,
                    drop_class=None):
    """Write fake CIFAR pickles under ``root``; return the per-split arrays
    (data (N, 3072) uint8 and labels (N,)) in file order."""
    rng = np.random.RandomState(seed)
    C = 100 if cifar100 else 10
    out = {}
    for split, per_class in (('train', per_class_train), ('test',
                                                          per_class_test)):
        labels = np.repeat(np.arange(C), per_class)
        labels = labels[rng.permutation(len(labels))]  # interleaved classes
        if drop_class is not None and split == 'train':
            labels[labels == drop_class] = (drop_class + 1) % C
        if bad_label is not None and split == 'train':
            labels[7] = bad_label
        data = rng.randint(0, 256, size=(len(labels), 3072), dtype=np.uint8)
        out[split] = (data, labels)
    if cifar100:
        folder = osp.join(root, 'cifar-100-python')
        os.makedirs(folder, exist_ok=True)
        for split in ('train', 'test'):
            data, labels = out[split]
            _dump(
                osp.join(folder, split), {
                    'filenames': [f'{i}.png' for i in range(len(labels))],
                    'batch_label': f'{split} batch',
                    'fine_labels': labels.tolist(),
                    'coarse_labels': (labels // 5).tolist(),
                    'data': data,
                }, bytes_keys)
        _dump(
            osp.join(folder, 'meta'), {
                'fine_label_names': [f'c{i}' for i in range(100)],
                'coarse_label_names': [f'g{i}' for i in range(20)],
            }, bytes_keys)
    else:
        folder = osp.join(root, 'cifar-10-batches-py')
        os.makedirs(folder, exist_ok=True)
        data, labels = out['train']
        for b, (d, lab) in enumerate(
                zip(np.array_split(data, 5), np.array_split(labels, 5)), 1):
            _dump(
                osp.join(folder, f'data_batch_{b}'), {
                    'batch_label': f'training batch {b} of 5',
                    'labels': lab.tolist(),
                    'data': d,
                    'filenames': [f'{i}.png' for i in range(len(lab))],
                }, bytes_keys)
        data, labels = out['test']
        _dump(
            osp.join(folder, 'test_batch'), {
                'batch_label': 'testing batch 1 of 1',
                'labels': labels.tolist(),
                'data': data,
                'filenames': [f'{i}.png' for i in range(len(labels))],
            }, bytes_keys)
        _dump(
            osp.join(folder, 'batches.meta'), {
                'label_names': [
                    'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog',
                    'frog', 'horse', 'ship', 'truck'
                ],
                'num_cases_per_batch':
                len(labels) // 5,
                'num_vis':
                3072,
            }, bytes_keys)
    return out


def exp_counts(n_max, C, imb):
    """Closed form of the LDAM/BBN exponential profile."""
    return [math.floor(n_max * imb**(-i / (C - 1))) for i in range(C)]


def to_hwc(rows):
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def images_of(ds):
    return np.stack([ds.get_data_info(i)['img'] for i in range(len(ds))])


@pytest.fixture(scope='module')
def cifar10_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('cifar10'))
    return root, make_fake_cifar(root)


@pytest.fixture(scope='module')
def cifar100_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('cifar100'))
    return root, make_fake_cifar(
        root,
        cifar100=True,
        per_class_train=20,
        per_class_test=2,
        bytes_keys=False)


def test_official_profile_counts():
    # LDAM/BBN protocol on the real files (n_max = 5000 / 500).
    c100 = CIFAR100LT.official_counts(100)
    assert sum(c100) == 10847 and c100[0] == 500 and c100[-1] == 5
    assert c100 == exp_counts(500, 100, 100)
    assert sum(CIFAR100LT.official_counts(50)) == 12608
    assert sum(CIFAR100LT.official_counts(10)) == 19573
    assert CIFAR10LT.official_counts(100) == [
        5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50
    ]
    assert sum(CIFAR10LT.official_counts(50)) == 13996
    assert sum(CIFAR10LT.official_counts(10)) == 20431
    assert CIFAR10LT.official_counts(200)[-1] == 25


@pytest.mark.parametrize('imb', [1, 10, 50])
def test_cifar10lt_first_per_class_in_file_order(cifar10_root, imb):
    root, raw = cifar10_root
    data, labels = raw['train']
    ds = CIFAR10LT(data_root=root, imbalance_factor=imb)
    expected_counts = exp_counts(50, 10, imb)
    assert ds.class_counts.tolist() == expected_counts
    assert len(ds) == sum(expected_counts)
    # reference: walk the files in order, keep the first n_c of class c
    seen, keep = [0] * 10, []
    for i, c in enumerate(labels):
        if seen[c] < expected_counts[c]:
            keep.append(i)
            seen[c] += 1
    np.testing.assert_array_equal(images_of(ds), to_hwc(data[keep]))
    np.testing.assert_array_equal(ds.get_gt_labels(), labels[keep])
    assert [ds.get_cat_ids(i) for i in range(3)] == \
        [[int(labels[k])] for k in keep[:3]]
    assert ds.num_classes == 10 and ds.CLASSES[0] == 'airplane'


def test_cifar10lt_ldam_shuffle_matches_reference_code(cifar10_root):
    root, raw = cifar10_root
    data, labels = raw['train']
    ds = CIFAR10LT(
        data_root=root, imbalance_factor=10, selection='ldam_shuffle', seed=3)
    # LDAM-DRW imbalance_cifar.py, gen_imbalanced_data, with global numpy
    state = np.random.get_state()
    try:
        np.random.seed(3)
        img_num_per_cls = [int(50 * (0.1**(i / 9.0))) for i in range(10)]
        new_data, new_targets = [], []
        for the_class, the_img_num in zip(np.unique(labels), img_num_per_cls):
            idx = np.where(labels == the_class)[0]
            np.random.shuffle(idx)
            new_data.append(data[idx[:the_img_num], ...])
            new_targets.extend([the_class] * the_img_num)
        ref = np.vstack(new_data)
    finally:
        np.random.set_state(state)
    np.testing.assert_array_equal(images_of(ds), to_hwc(ref))
    assert ds.get_gt_labels().tolist() == new_targets
    other = CIFAR10LT(
        data_root=root, imbalance_factor=10, selection='ldam_shuffle')
    assert other.class_counts.tolist() == ds.class_counts.tolist()
    assert not np.array_equal(images_of(other), images_of(ds))


def test_cifar10lt_step_profile_and_test_split(cifar10_root):
    root, raw = cifar10_root
    ds = CIFAR10LT(data_root=root, imbalance_factor=10, profile='step')
    assert ds.class_counts.tolist() == [50] * 5 + [5] * 5
    test = CIFAR10LT(data_root=root, split='test', imbalance_factor=100)
    data, labels = raw['test']
    assert test.class_counts.tolist() == [4] * 10  # balanced, complete
    np.testing.assert_array_equal(images_of(test), to_hwc(data))


def test_cifar100lt(cifar100_root):
    root, raw = cifar100_root
    data, labels = raw['train']
    ds = DATASETS.build(
        dict(type='CIFAR100LT', data_root=root, imbalance_factor=10))
    expected = exp_counts(20, 100, 10)
    assert expected[0] == 20 and expected[-1] == 2
    assert ds.class_counts.tolist() == expected
    assert ds.CLASSES[:2] == ('apple', 'aquarium_fish')
    keep = np.sort(
        np.concatenate(
            [np.flatnonzero(labels == c)[:n] for c, n in enumerate(expected)]))
    np.testing.assert_array_equal(images_of(ds), to_hwc(data[keep]))
    test = CIFAR100LT(data_root=root, split='test')
    assert test.class_counts.tolist() == [2] * 100


def test_pipeline_and_subset_cache(cifar10_root):
    root, _ = cifar10_root
    ds = DATASETS.build(
        dict(
            type='CIFAR10LT',
            data_root=root,
            imbalance_factor=10,
            pipeline=[
                dict(type='RandomFlip', prob=0.5),
                dict(type='PackInputs')
            ]))
    out = ds[0]
    assert tuple(out['inputs'].shape) == (3, 32, 32)
    assert out['data_samples'].gt_label.item() == ds.get_gt_labels()[0]
    full = ds.get_gt_labels()
    sub = ds.get_subset([5, 0, 7])
    assert sub.get_gt_labels().tolist() == full[[5, 0, 7]].tolist()
    ds.get_subset_([3, 2])
    assert ds.get_gt_labels().tolist() == full[[3, 2]].tolist()


def test_imbalance_factor_errors(cifar10_root):
    root, _ = cifar10_root
    with pytest.raises(ValueError, match=r'imbalance_factor=100'):
        CIFAR10LT(data_root=root, imbalance_factor=0.01)  # LDAM-code form
    for bad in (0, -2, float('nan')):
        with pytest.raises(ValueError, match='imbalance_factor must be >= 1'):
            CIFAR10LT(data_root=root, imbalance_factor=bad)
    # n_max = 50: IF 60 leaves the last class with int(50 / 60) = 0 images
    with pytest.raises(ValueError, match=r'imbalance_factor=60 .*\[9\].*zero'):
        CIFAR10LT(data_root=root, imbalance_factor=60)
    with pytest.raises(ValueError, match='profile'):
        CIFAR10LT(data_root=root, profile='linear')
    with pytest.raises(ValueError, match='selection'):
        CIFAR10LT(data_root=root, selection='random')
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        CIFAR10LT(data_root=root, split='val')
    with pytest.raises(ValueError, match='needs data_root'):
        CIFAR10LT()


def test_missing_pickles_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        CIFAR10LT(data_root=str(tmp_path))
    assert osp.join(str(tmp_path), 'cifar-10-batches-py',
                    'data_batch_1') in str(e.value)
    make_fake_cifar(str(tmp_path), per_class_train=5, per_class_test=1)
    os.remove(osp.join(str(tmp_path), 'cifar-10-batches-py', 'test_batch'))
    CIFAR10LT(data_root=str(tmp_path), imbalance_factor=2)  # train is fine
    with pytest.raises(FileNotFoundError, match='test_batch'):
        CIFAR10LT(data_root=str(tmp_path), split='test')
    with pytest.raises(FileNotFoundError, match=r'cifar-100-python.*train'):
        CIFAR100LT(data_root=str(tmp_path))


def test_bad_files(tmp_path):
    root = str(tmp_path / 'lab')
    make_fake_cifar(root, per_class_train=5, per_class_test=1, bad_label=10)
    with pytest.raises(
            ValueError,
            match=r'data_batch_1: label 10 of image 7 is out of '
            r'range for 10 classes'):
        CIFAR10LT(data_root=root, imbalance_factor=2)
    root = str(tmp_path / 'drop')
    make_fake_cifar(root, per_class_train=5, per_class_test=1, drop_class=4)
    with pytest.raises(ValueError, match='class 4 has no image'):
        CIFAR10LT(data_root=root, imbalance_factor=2)
    root = str(tmp_path / 'corrupt')
    make_fake_cifar(root, per_class_train=5, per_class_test=1)
    path = osp.join(root, 'cifar-10-batches-py', 'data_batch_3')
    with open(path, 'wb') as f:
        f.write(b'not a pickle')
    with pytest.raises(
            ValueError, match=r'cannot read CIFAR pickle .*'
            r'data_batch_3'):
        CIFAR10LT(data_root=root, imbalance_factor=2)
    root = str(tmp_path / 'md5')
    make_fake_cifar(root, per_class_train=5, per_class_test=1)
    with pytest.raises(ValueError, match='md5'):
        CIFAR10LT(data_root=root, imbalance_factor=2, check_md5=True)


def test_base_configs_build(cifar10_root, cifar100_root, repo_root):
    for name, (root, _) in (('cifar10_lt', cifar10_root), ('cifar100_lt',
                                                           cifar100_root)):
        cfg = Config.fromfile(
            osp.join(repo_root, 'configs/_base_/datasets', f'{name}.py'))
        assert cfg.imbalance_factor == 100
        for key in ('train_dataloader', 'test_dataloader'):
            ds_cfg = cfg[key].dataset.copy()
            ds_cfg.data_root = root
            if ds_cfg.split == 'train':
                ds_cfg.imbalance_factor = 2  # the fixture has n_max = 50/20
            ds = DATASETS.build(ds_cfg)
            assert tuple(ds[0]['inputs'].shape) == (3, 32, 32)
