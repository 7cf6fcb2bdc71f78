# Mask R-CNN R50-FPN, 2x (24 epochs, lr x0.1 after epochs 16 and 22);
# everything else as mask-rcnn_r50_fpn_ms-1x_coco.py (mmselfsup's
# mask-rcnn_r50_fpn_ms-2x_coco.py recipe).
#
#   tools/benchmarks/mmdetection/dist_train_fpn.sh \
#       configs/benchmarks/mmdetection/coco/mask-rcnn_r50_fpn_ms-2x_coco.py \
#       work_dirs/kcl_resnet50_8xb32-coslr-200e_imagenet-lt/epoch_200.pth 8
_base_ = './mask-rcnn_r50_fpn_ms-1x_coco.py'

max_epochs = 24
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[16, 22],
        gamma=0.1)
]
