#!/usr/bin/env bash
# Fine-tune an mmdet R50-FPN config (configs/benchmarks/mmdetection/) from an
# ltcls checkpoint, through tools/dist_train.sh (torchrun; gloo on CPU).
#
# Usage: tools/benchmarks/mmdetection/dist_train_fpn.sh CFG PRETRAIN GPUS [tools/train.py args...]
#   CFG       a configs/benchmarks/mmdetection/*/*_fpn_*.py config
#   PRETRAIN  an ltcls checkpoint: a stage-1 or stage-2 Runner checkpoint as
#             written by tools/train.py (the backbone is read from
#             `backbone.*`; momentum encoder, queue, head are ignored), or
#             tools/model_converters/extract_backbone.py --prefix backbone.
#             output. For a bare backbone file (extract_backbone.py without
#             --prefix) set PREFIX=none.
#   GPUS      processes per node
# Env: PREFIX (default backbone.), NNODES, NODE_RANK, MASTER_ADDR, PORT.
# Example:
#   tools/benchmarks/mmdetection/dist_train_fpn.sh \
#       configs/benchmarks/mmdetection/coco/mask-rcnn_r50_fpn_ms-1x_coco.py \
#       work_dirs/kcl_resnet50_8xb32-coslr-200e_imagenet-lt/epoch_200.pth 8 --work-dir work_dirs/det
set -e
if [ $# -lt 3 ]; then
  echo "usage: $0 CFG PRETRAIN GPUS [tools/train.py arguments...]" >&2; exit 2
fi
CFG=$1
PRETRAIN=$2
GPUS=$3
if [ ! -f "$PRETRAIN" ]; then
  echo "$0: checkpoint not found: $PRETRAIN" >&2; exit 2
fi
PREFIX=${PREFIX-backbone.}
if [ -z "$PREFIX" ] || [ "$PREFIX" = "none" ] || [ "$PREFIX" = "None" ]; then
  PREFIX=None
fi
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

bash "$TOOLS/dist_train.sh" "$CFG" "$GPUS" \
    --cfg-options model.backbone.init_cfg.type=Pretrained \
    model.backbone.init_cfg.checkpoint="$PRETRAIN" \
    model.backbone.init_cfg.prefix="$PREFIX" \
    "${@:4}"
