"""Tiny synthetic detection datasets (VOC and COCO layouts) for CPU tests.

Images are uniform noise with a few filled, axis-aligned rectangles; each
rectangle is one object (box = its extent, mask = its polygon). Sizes are
kept tiny so a detector fine-tune of a few iterations runs in seconds.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np

#: (class name, BGR colour) of the objects drawn in the images
VOC_OBJECTS = (('car', (40, 40, 220)), ('dog', (220, 60, 40)))
COCO_CLASSES = ('square', 'blob')
_COCO_COLOURS = ((40, 220, 40), (200, 40, 200))


def _draw(rng, width, height, num_objects, colours, min_side=40):
    """Return (BGR uint8 image, [(x1, y1, x2, y2, label)])."""
    img = rng.integers(0, 80, size=(height, width, 3), dtype=np.uint8)
    objects = []
    for i in range(num_objects):
        label = i % len(colours)
        w = int(rng.integers(min_side, width // 2 + 1))
        h = int(rng.integers(min_side, height // 2 + 1))
        x1 = int(rng.integers(0, width - w))
        y1 = int(rng.integers(0, height - h))
        img[y1:y1 + h, x1:x1 + w] = colours[label]
        objects.append((x1, y1, x1 + w, y1 + h, label))
    return img, objects


def _write_jpg(path, img):
    import cv2
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, img):
        raise RuntimeError(f'could not write {path}')


def make_voc(root: str,
             splits: Dict[str, Dict[str, int]] = None,
             size: Tuple[int, int] = (160, 128),
             seed: int = 0) -> str:
    """Write ``root/VOC{year}/{Annotations,JPEGImages,ImageSets/Main}``.

    Args:
        root (str): The VOCdevkit directory.
        splits (dict): ``{year: {split: num_images}}``. Defaults to
            VOC2007 trainval 2 / test 2 and VOC2012 trainval 2.
        size (tuple): (width, height) of every image.
        seed (int): RNG seed.

    Returns:
        str: ``root``.
    """
    splits = splits or {
        'VOC2007': dict(trainval=2, test=2),
        'VOC2012': dict(trainval=2)
    }
    rng = np.random.default_rng(seed)
    width, height = size
    colours = [c for _, c in VOC_OBJECTS]
    for year, counts in splits.items():
        main = osp.join(root, year, 'ImageSets', 'Main')
        os.makedirs(main, exist_ok=True)
        os.makedirs(osp.join(root, year, 'Annotations'), exist_ok=True)
        for split, num in counts.items():
            ids = []
            for i in range(num):
                img_id = f'{year[-4:]}_{split}_{i:04d}'
                img, objects = _draw(rng, width, height, 2, colours)
                _write_jpg(osp.join(root, year, 'JPEGImages',
                                    img_id + '.jpg'), img)
                xml = [
                    '<annotation>', f'  <folder>{year}</folder>',
                    f'  <filename>{img_id}.jpg</filename>',
                    f'  <size><width>{width}</width><height>{height}'
                    '</height><depth>3</depth></size>'
                ]
                for x1, y1, x2, y2, label in objects:
                    # VOC boxes are 1-based inclusive pixel coordinates
                    xml += [
                        '  <object>',
                        f'    <name>{VOC_OBJECTS[label][0]}</name>',
                        '    <pose>Unspecified</pose>',
                        '    <truncated>0</truncated>',
                        '    <difficult>0</difficult>',
                        f'    <bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}'
                        f'</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>'
                        '</bndbox>', '  </object>'
                    ]
                xml.append('</annotation>')
                with open(osp.join(root, year, 'Annotations',
                                   img_id + '.xml'), 'w') as f:
                    f.write('\n'.join(xml) + '\n')
                ids.append(img_id)
            with open(osp.join(main, f'{split}.txt'), 'w') as f:
                f.write('\n'.join(ids) + '\n')
    return root


def make_coco(root: str,
              splits: Dict[str, int] = None,
              size: Tuple[int, int] = (160, 128),
              seed: int = 0) -> str:
    """Write ``root/{train2017,val2017}/*.jpg`` and
    ``root/annotations/instances_{split}.json`` with boxes and polygon
    masks of :data:`COCO_CLASSES`.

    Returns:
        str: ``root``.
    """
    splits = splits or dict(train2017=3, val2017=2)
    rng = np.random.default_rng(seed)
    width, height = size
    categories = [
        dict(id=i + 1, name=name, supercategory='shape')
        for i, name in enumerate(COCO_CLASSES)
    ]
    ann_id = 1
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    for split, num in splits.items():
        images: List[dict] = []
        annotations: List[dict] = []
        for i in range(num):
            img_id = len(images) + 1
            file_name = f'{split}_{i:06d}.jpg'
            img, objects = _draw(rng, width, height, 2, _COCO_COLOURS)
            _write_jpg(osp.join(root, split, file_name), img)
            images.append(
                dict(id=img_id, file_name=file_name, width=width,
                     height=height))
            for x1, y1, x2, y2, label in objects:
                w, h = x2 - x1, y2 - y1
                annotations.append(
                    dict(
                        id=ann_id,
                        image_id=img_id,
                        category_id=label + 1,
                        bbox=[x1, y1, w, h],
                        area=float(w * h),
                        iscrowd=0,
                        segmentation=[[x1, y1, x2, y1, x2, y2, x1, y2]]))
                ann_id += 1
        with open(osp.join(root, 'annotations', f'instances_{split}.json'),
                  'w') as f:
            json.dump(
                dict(images=images, annotations=annotations,
                     categories=categories), f)
    return root


def voc_class_names() -> Sequence[str]:
    return [name for name, _ in VOC_OBJECTS]


# ---------------------------------------------------------------------------
# ltcls checkpoints
# ---------------------------------------------------------------------------
def stage1_model(depth: int = 18, num_classes: int = 4):
    """A stage-1 ltcls model: ``ContrastiveClassifier`` (ResNet backbone,
    projector, head, momentum encoder ``encoder_k``, labelled queue),
    initialised; the momentum encoder is then moved away from the online
    network so that a wrong pick is detectable."""
    import torch
    from ltcls.registry import MODELS
    feat = 512 if depth < 50 else 2048
    model = MODELS.build(
        dict(
            type='ContrastiveClassifier',
            backbone=dict(type='ResNet', depth=depth),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead', num_classes=num_classes,
                in_channels=feat),
            projector=dict(
                type='ProjectionMLP', in_channels=feat, out_channels=16,
                hid_channels=32, with_avg_pool=False),
            momentum=0.01,
            queue=dict(length=8, dim=16)))
    model.init_weights()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        for name, buf in model.backbone.named_buffers():
            if buf.is_floating_point():  # non-trivial BN statistics
                buf.add_(torch.rand(buf.shape, generator=gen))
        for p in model.encoder_k.parameters():
            p.add_(1.0)
    return model


def runner_style_checkpoint(state_dict, extra_state=None):
    """What mmengine's Runner writes: meta, state_dict, message_hub (with
    HistoryBuffer and numpy values), optimizer and scheduler state."""
    from collections import OrderedDict

    import numpy as np
    import torch
    from mmengine.logging import HistoryBuffer
    state = OrderedDict(state_dict)
    state.update(extra_state or {})
    hist = HistoryBuffer()
    hist.update(1.5)
    hist.update(np.float64(0.5))
    return dict(
        meta=dict(
            epoch=3,
            iter=30,
            seed=0,
            experiment_name='kcl_test',
            mmengine_version='0.10.7',
            dataset_meta=dict(classes=('a', 'b')),
            cfg='model = dict(...)'),
        state_dict=state,
        message_hub=dict(
            log_scalars={'train/loss': hist},
            runtime_info=dict(epoch=3, lr=np.float32(0.1))),
        optimizer=dict(
            state={0: dict(momentum_buffer=torch.zeros(2))},
            param_groups=[dict(lr=0.1, params=[0])]),
        param_schedulers=[dict(last_epoch=3)])


# ---------------------------------------------------------------------------
# shrinking the real configs for CPU tests
# ---------------------------------------------------------------------------
#: model overrides turning the R50 configs into ResNet-18 ones (C4 / FPN)
R18_C4 = dict(
    backbone=dict(depth=18),
    rpn_head=dict(in_channels=256, feat_channels=256),
    roi_head=dict(
        shared_head=dict(depth=18),
        bbox_roi_extractor=dict(out_channels=256),
        bbox_head=dict(in_channels=512)))
R18_FPN = dict(
    backbone=dict(depth=18), neck=dict(in_channels=[64, 128, 256, 512]))
#: fewer proposals / RoIs and a low score threshold, so that a detector
#: trained for 3 iterations still outputs boxes to evaluate
FAST_TRAIN_TEST = dict(
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=200, max_per_img=50),
        rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(
        rpn=dict(nms_pre=200, max_per_img=50),
        rcnn=dict(score_thr=0.0, max_per_img=10)))


def tiny_det_config(base: str, data_root: str, kind: str) -> str:
    """Text of a test config inheriting the real config ``base`` (absolute
    path): ResNet-18, 160 x 128 images, 3 iterations / 1 epoch, no workers,
    data from ``data_root`` (made by :func:`make_voc` / :func:`make_coco`).

    ``kind``: 'voc_c4' or 'coco_fpn_mask'.
    """
    if kind == 'voc_c4':
        model = dict(R18_C4, **FAST_TRAIN_TEST)
        with_mask = False
    elif kind == 'coco_fpn_mask':
        model = dict(
            R18_FPN,
            roi_head=dict(
                bbox_head=dict(num_classes=len(COCO_CLASSES)),
                mask_head=dict(num_classes=len(COCO_CLASSES))),
            **FAST_TRAIN_TEST)
        with_mask = True
    else:
        raise ValueError(f'unknown kind {kind!r}')
    load = (f"dict(type='LoadAnnotations', with_bbox=True, "
            f'with_mask={with_mask})')
    lines = [
        f'_base_ = {base!r}',
        f'data_root = {data_root!r}',
        f'model = {model!r}',
        'train_pipeline = [',
        "    dict(type='LoadImageFromFile'),",
        f'    {load},',
        "    dict(type='RandomChoiceResize', scales=[(160, 128), "
        '(200, 160)], keep_ratio=True),',
        "    dict(type='RandomFlip', prob=0.5),",
        "    dict(type='PackDetInputs')]",
        'test_pipeline = [',
        "    dict(type='LoadImageFromFile'),",
        "    dict(type='Resize', scale=(160, 128), keep_ratio=True),",
        f'    {load},',
        "    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', "
        "'ori_shape', 'img_shape', 'scale_factor'))]",
        "optim_wrapper = dict(optimizer=dict(lr=0.005))",
        'param_scheduler = [dict(type="LinearLR", start_factor=0.1, '
        'by_epoch=False, begin=0, end=2)]',
    ]
    if kind == 'voc_c4':
        voc = ("dict(type='VOCDataset', data_root=data_root, "
               "ann_file='{y}/ImageSets/Main/trainval.txt', "
               "data_prefix=dict(sub_data_root='{y}/'), "
               'filter_cfg=dict(filter_empty_gt=True, min_size=32), '
               'pipeline=train_pipeline)')
        lines += [
            'train_dataloader = dict(num_workers=0, persistent_workers=False,'
            ' dataset=dict(datasets=[' + voc.format(y='VOC2007') + ', ' +
            voc.format(y='VOC2012') + ']))',
            'val_dataloader = dict(num_workers=0, persistent_workers=False, '
            'dataset=dict(data_root=data_root, pipeline=test_pipeline))',
            'test_dataloader = val_dataloader',
            'train_cfg = dict(max_iters=3, val_interval=3)',
            "custom_hooks = [dict(type='DetPreciseBNHook', _scope_='ltcls', "
            'num_samples=4)]',
            'default_hooks = dict(logger=dict(interval=1), '
            'visualization=dict(draw=False), checkpoint=dict(interval=3))',
        ]
    else:
        lines += [
            f'metainfo = dict(classes={tuple(COCO_CLASSES)!r})',
            'train_dataloader = dict(num_workers=0, persistent_workers=False,'
            ' dataset=dict(data_root=data_root, metainfo=metainfo, '
            'pipeline=train_pipeline))',
            'val_dataloader = dict(num_workers=0, persistent_workers=False, '
            'dataset=dict(data_root=data_root, metainfo=metainfo, '
            'pipeline=test_pipeline))',
            'test_dataloader = val_dataloader',
            "val_evaluator = dict(ann_file=data_root + "
            "'annotations/instances_val2017.json')",
            'test_evaluator = val_evaluator',
            'train_cfg = dict(max_epochs=1)',
            'default_hooks = dict(logger=dict(interval=1), '
            'visualization=dict(draw=False))',
        ]
    return '\n'.join(lines) + '\n'
