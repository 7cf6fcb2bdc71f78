"""End to end on CPU: an ltcls classifier checkpoint (tools/train.py on
DigitsLT, ResNet-18) -> Faster R-CNN R50-C4 VOC / Mask R-CNN R50-FPN COCO
configs (shrunk to ResNet-18 and 160 x 128 images) fine-tuned for a few
iterations with tools/train.py on generated VOC / COCO data -> tools/test.py
reports VOC mAP / COCO bbox + segm AP; tools/dist_train.sh (through the
detection launcher) runs the same configs."""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest

import det_data

CLS_CFG = 'configs/quickstart/resnet32_ce_digits-lt.py'
VOC_C4 = 'configs/benchmarks/mmdetection/voc0712/' \
    'faster-rcnn_r50-c4_ms-24k_voc0712.py'
COCO_FPN = 'configs/benchmarks/mmdetection/coco/mask-rcnn_r50_fpn_ms-1x_coco.py'


def _run(cmd, cwd, env=None):
    env = dict(os.environ, OMP_NUM_THREADS='2', **(env or {}))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode != 0:
        raise AssertionError(f'{cmd} failed:\n{proc.stdout[-4000:]}\n'
                             f'{proc.stderr[-6000:]}')
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def ltcls_ckpt(repo_root, tmp_path_factory):
    """A real ltcls Runner checkpoint (meta, message_hub with HistoryBuffer,
    optimizer): the quickstart config with a ResNet-18 backbone, 2
    iterations on 16 DigitsLT images."""
    work = str(tmp_path_factory.mktemp('ltcls_cls'))
    _run([
        sys.executable, 'tools/train.py', CLS_CFG, '--work-dir', work,
        '--no-validate', '--cfg-options', 'model.backbone.type=ResNet',
        'model.backbone.depth=18', 'model.head.in_channels=512',
        'train_cfg.max_epochs=1', 'train_dataloader.dataset.indices=16',
        'train_dataloader.batch_size=8'
    ], repo_root)
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    return ckpt


def _metrics(path, keys):
    with open(path) as f:
        metrics = json.load(f)
    for key in keys:
        value = metrics[key]
        assert isinstance(value, float) and math.isfinite(value), (key,
                                                                   value)
        assert 0.0 <= value <= 1.0, (key, value)
    return metrics


@pytest.mark.slow
def test_faster_rcnn_c4_voc(repo_root, ltcls_ckpt, tmp_path):
    data = det_data.make_voc(str(tmp_path / 'VOCdevkit')) + '/'
    cfg = tmp_path / 'faster_c4_voc_tiny.py'
    cfg.write_text(
        det_data.tiny_det_config(
            osp.join(repo_root, VOC_C4), data, 'voc_c4'))
    work = str(tmp_path / 'work')
    log = _run([
        sys.executable, 'tools/train.py',
        str(cfg), '--work-dir', work, '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={ltcls_ckpt}',
        f'model.roi_head.shared_head.init_cfg.checkpoint={ltcls_ckpt}'
    ], repo_root)
    # backbone and res5 head both read the ltcls Runner checkpoint
    assert log.count(f'load backbone. in model from: {ltcls_ckpt}') == 2
    assert 'Precise BN: BN statistics updated' in log
    assert 'Iter(train) [3/3]' in log and 'pascal_voc/mAP' in log
    det_ckpt = osp.join(work, 'iter_3.pth')
    assert osp.isfile(det_ckpt)

    out = str(tmp_path / 'voc_metrics.json')
    log = _run([
        sys.executable, 'tools/test.py',
        str(cfg), det_ckpt, '--work-dir', work, '--out-metrics', out
    ], repo_root)
    metrics = _metrics(
        out, ['pascal_voc/mAP', 'pascal_voc/AP50', 'pascal_voc/AP75'])
    assert len([k for k in metrics if k.startswith('pascal_voc/AP')]) == 10
    assert 'pascal_voc/mAP' in log and 'pascal_voc/AP50' in log


@pytest.mark.slow
def test_mask_rcnn_fpn_coco_from_extracted_backbone(repo_root, ltcls_ckpt,
                                                     tmp_path):
    bare = str(tmp_path / 'backbone.pth')
    log = _run([
        sys.executable, 'tools/model_converters/extract_backbone.py',
        ltcls_ckpt, bare
    ], repo_root)
    assert 'dropped: head (2)' in log
    data = det_data.make_coco(str(tmp_path / 'coco')) + '/'
    cfg = tmp_path / 'mask_fpn_coco_tiny.py'
    cfg.write_text(
        det_data.tiny_det_config(
            osp.join(repo_root, COCO_FPN), data, 'coco_fpn_mask'))
    work = str(tmp_path / 'work')
    log = _run([
        sys.executable, 'tools/train.py',
        str(cfg), '--work-dir', work, '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={bare}',
        'model.backbone.init_cfg.prefix=None'
    ], repo_root)
    assert f'load model from: {bare}' in log
    assert 'Epoch(train) [1][2/2]' in log and 'coco/segm_mAP' in log
    det_ckpt = osp.join(work, 'epoch_1.pth')

    out = str(tmp_path / 'coco_metrics.json')
    log = _run([
        sys.executable, 'tools/test.py',
        str(cfg), det_ckpt, '--work-dir', work, '--out-metrics', out
    ], repo_root)
    _metrics(out, [
        'coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75',
        'coco/segm_mAP', 'coco/segm_mAP_50', 'coco/segm_mAP_75'
    ])
    assert 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log


@pytest.mark.slow
def test_dist_train_launcher_c4(repo_root, ltcls_ckpt, tmp_path):
    """tools/benchmarks/mmdetection/dist_train_c4.sh -> tools/dist_train.sh
    (torchrun, gloo on CPU) -> tools/train.py on a detection config."""
    from ltcls.testing import free_port
    data = det_data.make_voc(str(tmp_path / 'VOCdevkit')) + '/'
    cfg = tmp_path / 'faster_c4_voc_tiny.py'
    cfg.write_text(
        det_data.tiny_det_config(
            osp.join(repo_root, VOC_C4), data, 'voc_c4'))
    work = str(tmp_path / 'work')
    log = _run([
        'bash', 'tools/benchmarks/mmdetection/dist_train_c4.sh',
        str(cfg), ltcls_ckpt, '1', '--work-dir', work, '--no-validate',
        '--cfg-options', 'train_cfg.max_iters=1'
    ], repo_root, env=dict(PORT=str(free_port())))
    assert log.count(f'load backbone. in model from: {ltcls_ckpt}') == 2
    assert osp.isfile(osp.join(work, 'iter_1.pth'))


def test_launchers_refuse_a_missing_checkpoint(repo_root, tmp_path):
    for script in ('dist_train_c4.sh', 'dist_train_fpn.sh'):
        proc = subprocess.run([
            'bash', f'tools/benchmarks/mmdetection/{script}', VOC_C4,
            str(tmp_path / 'nope.pth'), '1'
        ], cwd=repo_root, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2
        assert f'checkpoint not found: {tmp_path}/nope.pth' in proc.stderr
        proc = subprocess.run(
            ['bash', f'tools/benchmarks/mmdetection/{script}', VOC_C4],
            cwd=repo_root, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and 'usage:' in proc.stderr
