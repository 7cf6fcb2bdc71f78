"""configs/benchmarks/mmdetection: every config loads, inherits mmdet's own
config, builds in mmdet's registry and encodes the transfer recipe
(SyncBN, nothing frozen, BN trained; the MoCo / Detectron2 schedule of the
papers for VOC and COCO C4; mmselfsup's FPN recipe)."""
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ROOT = osp.join(REPO, 'configs', 'benchmarks', 'mmdetection')
CONFIGS = sorted(glob.glob(osp.join(ROOT, '*', '*.py')))
PLACEHOLDER = 'PASS_AN_LTCLS_CHECKPOINT.pth'
SYNC_BN = dict(type='SyncBN', requires_grad=True)

# expected schedule: (loop, length, milestones, warm-up iterations)
RECIPES = {
    'voc0712/faster-rcnn_r50-c4_ms-24k_voc0712.py':
    ('IterBasedTrainLoop', 24000, [18000, 22000], 100),
    'voc0712/faster-rcnn_r50_fpn_ms-24k_voc0712.py':
    ('IterBasedTrainLoop', 24000, [18000, 22000], 100),
    'coco/mask-rcnn_r50-c4_ms-1x_coco.py':
    ('IterBasedTrainLoop', 90000, [60000, 80000], 1000),
    'coco/mask-rcnn_r50-c4_ms-2x_coco.py':
    ('IterBasedTrainLoop', 180000, [120000, 160000], 1000),
    'coco/faster-rcnn_r50_fpn_ms-1x_coco.py':
    ('EpochBasedTrainLoop', 12, [8, 11], 1000),
    'coco/faster-rcnn_r50_fpn_ms-2x_coco.py':
    ('EpochBasedTrainLoop', 24, [16, 22], 1000),
    'coco/mask-rcnn_r50_fpn_ms-1x_coco.py':
    ('EpochBasedTrainLoop', 12, [8, 11], 1000),
    'coco/mask-rcnn_r50_fpn_ms-2x_coco.py':
    ('EpochBasedTrainLoop', 24, [16, 22], 1000),
}


def _rel(path):
    return osp.relpath(path, ROOT)


def test_expected_configs_exist():
    assert sorted(_rel(p) for p in CONFIGS) == sorted(RECIPES)


def _train_scales(cfg):
    pipeline = cfg.train_dataloader.dataset.get('pipeline')
    if pipeline is None:  # ConcatDataset
        pipelines = [d.pipeline for d in cfg.train_dataloader.dataset.datasets]
        assert all(p == pipelines[0] for p in pipelines)
        pipeline = pipelines[0]
    resize = [t for t in pipeline if t.type == 'RandomChoiceResize']
    assert len(resize) == 1 and resize[0].keep_ratio
    return [tuple(s) for s in resize[0].scales]


@pytest.mark.parametrize('path', CONFIGS, ids=_rel)
def test_recipe(path):
    rel = _rel(path)
    cfg = Config.fromfile(path)
    text = open(path).read()
    base = re.search(r"^_base_ = '([^']+)'", text, re.M).group(1)
    assert base.startswith('mmdet::') or base.startswith('./'), base
    assert cfg.default_scope == 'mmdet'
    assert 'ltcls' in cfg.custom_imports.imports

    model = cfg.model
    c4 = '-c4_' in rel
    mask = rel.startswith('coco/mask')
    assert model.type == ('MaskRCNN' if mask else 'FasterRCNN')

    # SyncBN trained everywhere, nothing frozen, BN in train mode
    bb = model.backbone
    assert (bb.type, bb.depth, bb.style) == ('ResNet', 50, 'pytorch')
    assert bb.norm_cfg == SYNC_BN and bb.frozen_stages == -1
    assert bb.norm_eval is False
    assert bb.init_cfg == dict(
        type='Pretrained', checkpoint=PLACEHOLDER, prefix='backbone.')
    # torchvision-style RGB input
    pre = model.data_preprocessor
    assert pre.mean == [123.675, 116.28, 103.53]
    assert pre.std == [58.395, 57.12, 57.375] and pre.bgr_to_rgb
    assert pre.get('pad_mask', False) == mask
    if c4:
        head = model.roi_head.shared_head
        assert head.type == 'ResLayerExtraNorm' and head.depth == 50
        assert head.norm_cfg == SYNC_BN and head.norm_eval is False
        assert head.style == 'pytorch'
        assert head.init_cfg == bb.init_cfg  # res5 from the same checkpoint
        assert 'mmpretrain.models.utils.res_layer_extra_norm' in \
            cfg.custom_imports.imports
        assert (model.test_cfg.rpn.nms_pre,
                model.test_cfg.rpn.max_per_img) == (6000, 1000)
    else:
        assert model.neck.norm_cfg == SYNC_BN
        assert model.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'
        assert model.roi_head.bbox_head.norm_cfg == SYNC_BN
        if mask:
            assert model.roi_head.mask_head.norm_cfg == SYNC_BN

    # schedule
    loop, length, milestones, warmup = RECIPES[rel]
    assert cfg.train_cfg.type == loop
    if loop == 'IterBasedTrainLoop':
        assert cfg.train_cfg.max_iters == length
        assert cfg.train_cfg.val_interval == length  # evaluate at the end
        assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'
        # Detectron2 Precise BN: 200 batches of 16 images after training
        hooks = [h for h in cfg.custom_hooks if h.type == 'DetPreciseBNHook']
        assert hooks == [
            dict(type='DetPreciseBNHook', _scope_='ltcls', num_samples=3200)
        ]
        assert cfg.log_processor.by_epoch is False
        assert cfg.default_hooks.checkpoint.by_epoch is False
    else:
        assert cfg.train_cfg.max_epochs == length
    warm, steps = cfg.param_scheduler
    assert (warm.type, warm.start_factor, warm.by_epoch, warm.begin,
            warm.end) == ('LinearLR', 0.001, False, 0, warmup)
    assert steps.type == 'MultiStepLR' and steps.milestones == milestones
    assert steps.end == length and steps.gamma == 0.1
    assert steps.by_epoch == (loop == 'EpochBasedTrainLoop')
    # 8 GPUs x 2 images, SGD lr 0.02, momentum 0.9, wd 1e-4, no wd on norms
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)
    assert cfg.optim_wrapper.paramwise_cfg == dict(norm_decay_mult=0.0)

    # data
    scales = _train_scales(cfg)
    if rel.startswith('voc0712'):
        assert scales == [(1333, s) for s in range(480, 801, 32)]
        ds = cfg.train_dataloader.dataset
        assert ds.type == 'ConcatDataset'
        assert [d.ann_file for d in ds.datasets] == [
            'VOC2007/ImageSets/Main/trainval.txt',
            'VOC2012/ImageSets/Main/trainval.txt'
        ]
        assert cfg.test_dataloader.dataset.ann_file == \
            'VOC2007/ImageSets/Main/test.txt'
        assert model.roi_head.bbox_head.num_classes == 20
        ev = cfg.test_evaluator
        assert (ev.type, ev.eval_mode) == ('VOCMetric', '11points')
        assert ev.iou_thrs == [round(0.5 + 0.05 * i, 2) for i in range(10)]
    else:
        assert scales == [(1333, s) for s in range(640, 801, 32)]
        assert cfg.train_dataloader.dataset.ann_file == \
            'annotations/instances_train2017.json'
        ev = cfg.test_evaluator
        assert ev.type == 'CocoMetric'
        metric = [ev.metric] if isinstance(ev.metric, str) else list(
            ev.metric)
        assert metric == (['bbox', 'segm'] if mask else ['bbox'])
        assert ev.ann_file.endswith('annotations/instances_val2017.json')
    resize = [t for t in cfg.test_dataloader.dataset.pipeline
              if t.type == 'Resize']
    assert [tuple(r.scale) for r in resize] == [(1333, 800)]


@pytest.mark.parametrize('path', CONFIGS, ids=_rel)
def test_builds_in_mmdet_with_syncbn(path):
    from mmengine.registry import DefaultScope
    from mmdet.registry import MODELS
    cfg = Config.fromfile(path)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    sync = [m for m in model.modules() if isinstance(m, torch.nn.SyncBatchNorm)]
    plain = [m for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
             and not isinstance(m, torch.nn.SyncBatchNorm)]
    assert sync and not plain
    assert all(p.requires_grad for p in model.parameters())
    if '-c4_' in path:
        norm = model.roi_head.shared_head.norm
        assert isinstance(norm, torch.nn.SyncBatchNorm)
        assert norm.num_features == 2048


def test_forgotten_checkpoint_is_a_clear_error():
    """Without the launcher's checkpoint the placeholder path is reported
    (never a silent fine-tune from scratch)."""
    from mmengine.registry import DefaultScope
    from mmdet.registry import MODELS
    cfg = Config.fromfile(
        osp.join(ROOT, 'coco', 'faster-rcnn_r50_fpn_ms-1x_coco.py'))
    cfg.model.backbone.depth = 18
    cfg.model.neck.in_channels = [64, 128, 256, 512]
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    with pytest.raises(FileNotFoundError, match=PLACEHOLDER):
        model.init_weights()


def test_readme_lists_every_config_and_the_paper_targets():
    readme = open(osp.join(ROOT, 'README.md')).read()
    for path in CONFIGS:
        assert _rel(path) in readme, _rel(path)
    for listed in re.findall(r'\(((?:voc0712|coco)/[\w.-]+\.py)\)', readme):
        assert osp.isfile(osp.join(ROOT, listed)), listed
    # targets copied from spec_kcl.md Tables 11/12 and spec_sbcl.md Table 3
    for number in ('82.32', '79.70', '52.63', '57.89', '40.79', '35.45',
                   '39.43', '34.38', '80.6', '53.4', '58.8', '56.2'):
        assert number in readme, number
