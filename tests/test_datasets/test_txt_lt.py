# Copyright (c) ltcls contributors. All rights reserved.
"""LongTailTxtDataset / ImageNetLT / PlacesLT / INaturalist2018 on small
fixtures in the real on-disk formats: "relative/path.jpg label" list files
(ImageNet_LT_train.txt style) with JPEG files, and a COCO-style iNat 2018
JSON (images / annotations / categories)."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from ltcls.datasets import (INaturalist2018, ImageNetLT, LongTailTxtDataset,
                            PlacesLT)
from ltcls.registry import DATASETS

PIPELINE = [dict(type='LoadImageFromFileStrict'), dict(type='PackInputs')]


def write_jpeg(path, value, size=(6, 8)):
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = np.full((*size, 3), value, dtype=np.uint8)
    assert cv2.imwrite(path, img)


def make_split(root,
               counts,
               prefix='train',
               list_name='train.txt',
               label_of=None,
               header=''):
    """Images root/<prefix>/c<label>/<k>.jpg and a list file; returns the
    list of (relative path, label) in file order (classes interleaved)."""
    label_of = label_of or (lambda c: c)
    entries = []
    for k in range(max(counts)):
        for c, n in enumerate(counts):
            if k < n:
                rel = f'{prefix}/c{label_of(c)}/{k}.jpg'
                write_jpeg(osp.join(root, rel), value=(10 * c + k) % 256)
                entries.append((rel, label_of(c)))
    with open(osp.join(root, list_name), 'w') as f:
        f.write(header)
        f.write('\n'.join(f'{p} {lab}' for p, lab in entries) + '\n\n')
    return entries


@pytest.fixture(scope='module')
def lt_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('imagenet_lt'))
    entries = make_split(root, [5, 3, 2, 1])
    return root, entries


def test_list_dataset_counts_labels_and_loading(lt_root):
    root, entries = lt_root
    ds = LongTailTxtDataset(
        ann_file='train.txt', data_root=root, num_classes=4, pipeline=PIPELINE)
    assert len(ds) == 11
    assert ds.class_counts.tolist() == [5, 3, 2, 1]
    assert ds.get_gt_labels().tolist() == [lab for _, lab in entries]
    assert [ds.get_cat_ids(i) for i in range(len(ds))] == \
        [[lab] for _, lab in entries]
    assert ds.get_data_info(2)['img_path'] == osp.join(root, entries[2][0])
    assert ds.CLASSES == ('0', '1', '2', '3')
    out = ds[4]
    rel, lab = entries[4]
    expected = cv2.imread(osp.join(root, rel))
    np.testing.assert_array_equal(out['inputs'].permute(1, 2, 0).numpy(),
                                  expected)
    assert out['data_samples'].gt_label.item() == lab


def test_data_prefix_and_class_names(lt_root, tmp_path):
    root, entries = lt_root
    lists = tmp_path / 'lists'
    lists.mkdir()
    (lists / 'a.txt').write_text(''.join(f'{p} {lab}\n' for p, lab in entries))
    ds = LongTailTxtDataset(
        ann_file='a.txt',
        data_root=str(lists),
        data_prefix=root,
        classes=['w', 'x', 'y', 'z'])
    assert ds.get_data_info(0)['img_path'] == osp.join(root, entries[0][0])
    assert ds.CLASSES == ('w', 'x', 'y', 'z') and ds.num_classes == 4
    with pytest.raises(ValueError, match='2 class names.*num_classes=4'):
        LongTailTxtDataset(
            ann_file='a.txt',
            data_root=str(lists),
            data_prefix=root,
            num_classes=4,
            classes=['a', 'b'])
    with pytest.raises(ValueError, match='needs num_classes'):
        LongTailTxtDataset(ann_file='a.txt', data_root=str(lists))


def test_registered_lt_datasets(tmp_path):
    root = str(tmp_path)
    make_split(root, [2, 1, 3], label_of=lambda c: [0, 999, 500][c])
    # tiny fixtures of the 1000 / 365 / 8142-class datasets: most classes
    # have no image (refused by default, see test_empty_class_is_refused)
    ds = DATASETS.build(
        dict(type='ImageNetLT', data_root=root, ann_file='train.txt',
             allow_empty_classes=True))
    assert isinstance(ds, ImageNetLT) and ds.num_classes == 1000
    counts = ds.class_counts
    assert counts.shape == (1000, )
    assert (counts[0], counts[999], counts[500]) == (2, 1, 3)
    assert counts.sum() == 6
    assert ds.CLASSES[0] == 'tench, Tinca tinca'  # mmpretrain's names
    with pytest.raises(
            ValueError,
            match=r'train.txt:2: label 999 is out of range for '
            r'num_classes=365'):
        PlacesLT(data_root=root, ann_file='train.txt')
    inat = INaturalist2018(
        data_root=root, ann_file='train.txt', allow_empty_classes=True)
    assert inat.num_classes == 8142 and inat.class_counts[500] == 3


def write_inat_json(path, entries, num_categories=8142, **overrides):
    images = [
        dict(id=1000 + i, file_name=p, width=8, height=6, license=1)
        for i, (p, _) in enumerate(entries)
    ]
    annotations = [
        dict(id=i, image_id=1000 + i, category_id=lab)
        for i, (_, lab) in enumerate(entries)
    ]
    categories = [
        dict(
            id=c,
            name=f'species {c}',
            supercategory='Plantae',
            kingdom='Plantae') for c in range(num_categories)
    ]
    data = dict(
        info={'year': 2018},
        images=images,
        annotations=annotations,
        categories=categories,
        licenses=[])
    data.update(overrides)
    with open(path, 'w') as f:
        json.dump(data, f)


def test_inat_json_equals_list_file(tmp_path):
    root = str(tmp_path)
    entries = make_split(
        root, [3, 1, 2],
        prefix='train_val2018/Plantae',
        list_name='iNaturalist18_train.txt',
        label_of=lambda c: [7477, 0, 8141][c])
    write_inat_json(osp.join(root, 'train2018.json'), entries)
    from_list = INaturalist2018(
        data_root=root, ann_file='iNaturalist18_train.txt',
        allow_empty_classes=True)
    from_json = INaturalist2018(
        data_root=root, ann_file='train2018.json', pipeline=PIPELINE,
        allow_empty_classes=True)
    assert len(from_json) == len(from_list) == 6
    for i in range(6):
        assert from_json.get_data_info(i)['img_path'] == \
            from_list.get_data_info(i)['img_path']
    np.testing.assert_array_equal(from_json.class_counts,
                                  from_list.class_counts)
    assert from_json.class_counts[[7477, 0, 8141]].tolist() == [3, 1, 2]
    assert from_json.CLASSES[7477] == 'species 7477'
    assert from_list.CLASSES[7477] == '7477'
    assert tuple(from_json[0]['inputs'].shape) == (3, 6, 8)
    # JSON categories that do not cover all classes: names stay the ids
    write_inat_json(
        osp.join(root, 'partial.json'),
        entries,
        categories=[dict(id=0, name='x')])
    ds = INaturalist2018(data_root=root, ann_file='partial.json',
                         allow_empty_classes=True)
    assert ds.CLASSES[0] == '0'


def test_inat_json_errors(tmp_path):
    root = str(tmp_path)
    entries = [('a.jpg', 3), ('b.jpg', 9000)]
    write_inat_json(osp.join(root, 'bad_label.json'), entries)
    with pytest.raises(
            ValueError,
            match=r'bad_label.json: annotations\[1\]:'
            r' label 9000 is out of range'):
        INaturalist2018(data_root=root, ann_file='bad_label.json')
    write_inat_json(
        osp.join(root, 'test2018.json'), [],
        annotations=[],
        images=[dict(id=1, file_name='t.jpg')])
    with pytest.raises(ValueError, match='test2018.json has no "annotations"'):
        INaturalist2018(data_root=root, ann_file='test2018.json')
    write_inat_json(
        osp.join(root, 'orphan.json'), [('a.jpg', 1)],
        images=[
            dict(id=1000, file_name='a.jpg'),
            dict(id=5, file_name='b.jpg')
        ])
    with pytest.raises(
            ValueError, match=r'image id 5 \(b.jpg\) has no '
            'annotation'):
        INaturalist2018(data_root=root, ann_file='orphan.json')
    with open(osp.join(root, 'broken.json'), 'w') as f:
        f.write('{"images": [')
    with pytest.raises(ValueError, match='broken.json: invalid JSON'):
        INaturalist2018(data_root=root, ann_file='broken.json')
    write_inat_json(
        osp.join(root, 'nokey.json'), [('a.jpg', 1)],
        annotations=[dict(id=0, image_id=1000)])
    with pytest.raises(ValueError, match='nokey.json: malformed iNat JSON'):
        INaturalist2018(data_root=root, ann_file='nokey.json')


def test_missing_paths_and_malformed_lines(tmp_path):
    root = str(tmp_path)
    missing_root = osp.join(root, 'nope')
    with pytest.raises(FileNotFoundError, match=f'{missing_root}.*not exist'):
        ImageNetLT(data_root=missing_root, ann_file='ImageNet_LT_train.txt')
    with pytest.raises(FileNotFoundError) as e:
        ImageNetLT(data_root=root, ann_file='ImageNet_LT_train.txt')
    assert osp.join(root, 'ImageNet_LT_train.txt') in str(e.value)
    with pytest.raises(ValueError, match='needs ann_file'):
        ImageNetLT(data_root=root, ann_file='')
    lines = {
        'nolabel.txt': ('a.jpg 0\nb.jpg 1\nc.jpg\n', 'nolabel.txt:3'),
        'textlabel.txt': ('a.jpg 0\n\nb.jpg one\n', 'textlabel.txt:3'),
        'float.txt': ('a.jpg 0.5\n', 'float.txt:1'),
    }
    for name, (text, where) in lines.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=f'{where}: malformed line'):
            ImageNetLT(data_root=root, ann_file=name)
    (tmp_path / 'neg.txt').write_text('a.jpg 0\nb.jpg -1\n')
    with pytest.raises(ValueError, match='neg.txt:2: label -1 is out of'):
        ImageNetLT(data_root=root, ann_file='neg.txt')
    (tmp_path / 'empty.txt').write_text('\n\n')
    with pytest.raises(ValueError, match='no "path label" line'):
        ImageNetLT(data_root=root, ann_file='empty.txt')
    # paths with spaces: the label is the last field
    write_jpeg(osp.join(root, 'my dir', 'x y.jpg'), 7)
    (tmp_path / 'space.txt').write_text('my dir/x y.jpg 2\n')
    ds = PlacesLT(data_root=root, ann_file='space.txt', check_files=True,
                  allow_empty_classes=True)
    assert ds.get_data_info(0)['img_path'] == osp.join(root, 'my dir/x y.jpg')
    (tmp_path / 'gone.txt').write_text('my dir/x y.jpg 2\nno/such.jpg 1\n')
    with pytest.raises(FileNotFoundError, match='1 image file.*no/such.jpg'):
        PlacesLT(data_root=root, ann_file='gone.txt', check_files=True)


def test_corrupt_and_missing_images_raise_naming_the_file(tmp_path):
    root = str(tmp_path)
    write_jpeg(osp.join(root, 'ok.jpg'), 1, size=(32, 32))
    good = open(osp.join(root, 'ok.jpg'), 'rb').read()
    with open(osp.join(root, 'trunc.jpg'), 'wb') as f:
        f.write(good[:len(good) // 2])
    with open(osp.join(root, 'junk.jpg'), 'wb') as f:
        f.write(b'this is not an image')
    open(osp.join(root, 'empty.jpg'), 'wb').close()
    (tmp_path / 'l.txt').write_text(
        'ok.jpg 0\ntrunc.jpg 0\njunk.jpg 1\nempty.jpg 1\nmissing.jpg 1\n')
    ds = PlacesLT(data_root=root, ann_file='l.txt', pipeline=PIPELINE,
                  allow_empty_classes=True)
    assert tuple(ds[0]['inputs'].shape) == (3, 32, 32)
    for i, exc, name in ((1, OSError, 'trunc.jpg'), (2, OSError, 'junk.jpg'),
                         (3, OSError, 'empty.jpg'), (4, FileNotFoundError,
                                                     'missing.jpg')):
        # training mode (test_mode=False): the error propagates, no refetch
        with pytest.raises(exc, match=osp.join(root, name)):
            ds[i]


def test_base_configs_build(tmp_path, repo_root):
    root = str(tmp_path)
    for name, files in (('imagenet_lt',
                         ('ImageNet_LT_train.txt', 'ImageNet_LT_val.txt',
                          'ImageNet_LT_test.txt')),
                        ('places_lt',
                         ('Places_LT_train.txt', 'Places_LT_val.txt',
                          'Places_LT_test.txt')), ('inat2018',
                                                   ('iNaturalist18_train.txt',
                                                    'iNaturalist18_val.txt'))):
        for f in files:
            make_split(root, [2, 1], list_name=f)
        cfg = Config.fromfile(
            osp.join(repo_root, 'configs/_base_/datasets', f'{name}.py'))
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            ds_cfg = cfg[key].dataset.copy()
            assert osp.basename(ds_cfg.ann_file) in files
            ds_cfg.data_root = root
            ds_cfg.allow_empty_classes = True  # 2-class fixture
            ds = DATASETS.build(ds_cfg)
            assert ds.class_counts[:2].tolist() == [2, 1]
            assert tuple(ds[0]['inputs'].shape) == (3, 224, 224)


@pytest.mark.parametrize('line, problem', [
    ('/train/n01440764/a.JPEG 0', 'is absolute'),
    ('../elsewhere/a.jpg 0', r"leaves the image folder \('..'\)"),
    ('train/../../a.jpg 0', r"leaves the image folder \('..'\)"),
    ('s3://bucket/a.jpg 0', 'is a URL'),
])
def test_paths_outside_data_root_are_errors_naming_the_line(
        tmp_path, line, problem):
    """BalFeat's imagenet_lt lists start with '/': join_path would drop
    data_root silently; the line is refused unless explicitly allowed."""
    (tmp_path / 'l.txt').write_text(f'train/c0/ok.jpg 1\n{line}\n')
    with pytest.raises(ValueError, match=rf'l.txt:2: image path .* {problem}'
                       '.*allow_absolute_paths=True'):
        LongTailTxtDataset(
            ann_file='l.txt', data_root=str(tmp_path), num_classes=2)
    ds = LongTailTxtDataset(
        ann_file='l.txt',
        data_root=str(tmp_path),
        num_classes=2,
        allow_absolute_paths=True)
    rel = line.rsplit(maxsplit=1)[0]
    expected = rel if rel.startswith(('/', 's3:')) else osp.join(
        str(tmp_path), rel)
    assert ds.get_data_info(1)['img_path'] == expected


def test_absolute_paths_in_inat_json_are_errors(tmp_path):
    write_inat_json(
        str(tmp_path / 'abs.json'), [('train_val2018/a.jpg', 1),
                                     ('/abs/b.jpg', 2)],
        num_categories=3)
    with pytest.raises(ValueError,
                       match=r'abs.json: image id 1001: image path '
                       r"'/abs/b.jpg' is absolute"):
        INaturalist2018(
            data_root=str(tmp_path), ann_file='abs.json', num_classes=3)


def test_places_and_inat_class_names_from_list_paths(tmp_path):
    from ltcls.evaluation.metrics import LongTailAccuracy
    root = str(tmp_path)
    folders = ['airfield', 'apartment_building/outdoor', 'bamboo_forest']
    lines = []
    for c, folder in enumerate(folders):
        for k in range(3 - c):
            lines.append(f'train/{folder}/{k}.jpg {c}')
    (tmp_path / 'train.txt').write_text('\n'.join(lines) + '\n')
    # copies from the 256x256 archive: data_256/<letter>/<class>/...
    (tmp_path / 'd256.txt').write_text(''.join(
        f'data_256/{f[0]}/{f}/0.jpg {c}\n' for c, f in enumerate(folders)))
    for ann in ('train.txt', 'd256.txt'):
        ds = PlacesLT(data_root=root, ann_file=ann, num_classes=3)
        assert ds.CLASSES == tuple(folders), ann
        assert ds.metainfo['classes'] == tuple(folders)
    inat_lines = ''.join(f'train_val2018/Plantae/{c}/{k}.jpg {c}\n'
                         for c in range(3) for k in range(2))
    (tmp_path / 'inat.txt').write_text(inat_lines)
    inat = INaturalist2018(data_root=root, ann_file='inat.txt', num_classes=3)
    assert inat.CLASSES == ('Plantae/0', 'Plantae/1', 'Plantae/2')
    # a label under two folders, a class without image: names stay ids
    (tmp_path / 'mixed.txt').write_text('train/a/0.jpg 0\ntrain/b/1.jpg 0\n'
                                        'train/c/2.jpg 1\ntrain/d/0.jpg 2\n')
    assert PlacesLT(data_root=root, ann_file='mixed.txt',
                    num_classes=3).CLASSES == ('0', '1', '2')
    assert PlacesLT(data_root=root, ann_file='train.txt', num_classes=4,
                    allow_empty_classes=True).CLASSES == ('0', '1', '2', '3')
    # given names win
    assert PlacesLT(
        data_root=root, ann_file='train.txt', num_classes=3,
        classes=['x', 'y', 'z']).CLASSES == ('x', 'y', 'z')
    # ... and reach the per-class output of LongTailAccuracy
    ds = PlacesLT(data_root=root, ann_file='train.txt', num_classes=3)
    metric = LongTailAccuracy(
        topk=1,
        many_thr=2,
        few_thr=1,
        class_counts=ds.class_counts.tolist(),
        out_dir=str(tmp_path / 'out'))
    metric.dataset_meta = ds.metainfo
    rows = _per_class_rows(metric, ds, tmp_path)
    assert [r['class_name'] for r in rows] == folders


def _per_class_rows(metric, ds, tmp_path):
    """Run LongTailAccuracy once (every prediction correct) and read its
    per-class JSON."""
    import glob

    import torch
    labels = torch.as_tensor(ds.get_gt_labels())
    samples = [
        dict(
            pred_score=torch.nn.functional.one_hot(lab, 3).float(),
            pred_label=lab.view(1),
            gt_label=lab.view(1)) for lab in labels
    ]
    metric.process([], samples)
    metric.evaluate(len(samples))
    files = glob.glob(str(tmp_path / 'out' / '**' / '*.json'),
                      recursive=True)
    assert files, list(os.walk(tmp_path / 'out'))
    with open(files[0]) as f:
        return json.load(f)['classes']


def test_imagenet_lt_names_need_sorted_wnid_labels(tmp_path):
    root = str(tmp_path)
    (tmp_path / 'ok.txt').write_text(
        'train/n01440764/n01440764_190.JPEG 0\n'
        'val/n01443537/ILSVRC2012_val_00000236.JPEG 1\n'
        'train/n15075141/n15075141_1.JPEG 999\n')
    ds = ImageNetLT(data_root=root, ann_file='ok.txt',
                    allow_empty_classes=True)  # 3 of 1000 classes
    assert ds.CLASSES[0] == 'tench, Tinca tinca'
    assert ds.CLASSES[999].startswith('toilet tissue')
    # labels in another order: mmpretrain's names would be wrong
    (tmp_path / 'bad.txt').write_text('train/n01443537/a.JPEG 0\n'
                                      'train/n01440764/b.JPEG 1\n')
    ds = ImageNetLT(data_root=root, ann_file='bad.txt',
                    allow_empty_classes=True)
    assert ds.CLASSES[:2] == ('0', '1')


def test_empty_class_is_refused_with_the_class_ids(tmp_path):
    root = str(tmp_path)
    make_split(root, [3, 0, 2, 0])  # classes 1 and 3 have no image
    with pytest.raises(ValueError,
                       match=r'train.txt: class ids \[1, 3\] \(2 of 4 '
                       r'classes\) have zero training images'):
        LongTailTxtDataset(ann_file='train.txt', data_root=root,
                           num_classes=4)
    ds = LongTailTxtDataset(ann_file='train.txt', data_root=root,
                            num_classes=4, allow_empty_classes=True)
    assert ds.class_counts.tolist() == [3, 0, 2, 0]
