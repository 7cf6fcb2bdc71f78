# Mask R-CNN R50-C4, 2x: the COCO protocol of KCL's Table 12 (spec_kcl.md
# §7.2: [M] coco_R_50_C4_2x.yaml, 180k iterations, lr x0.1 at 120k and
# 160k). Everything else as mask-rcnn_r50-c4_ms-1x_coco.py.
#
#   tools/benchmarks/mmdetection/dist_train_c4.sh \
#       configs/benchmarks/mmdetection/coco/mask-rcnn_r50-c4_ms-2x_coco.py \
#       work_dirs/kcl_resnet50_8xb32-coslr-200e_imagenet-lt/epoch_200.pth 8
_base_ = './mask-rcnn_r50-c4_ms-1x_coco.py'

max_iters = 180000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[120000, 160000],
        gamma=0.1)
]
