#!/usr/bin/env bash
# Fine-tune an mmdet R50-C4 config (configs/benchmarks/mmdetection/) from an
# ltcls checkpoint, through tools/dist_train.sh (torchrun; gloo on CPU). The
# checkpoint initialises the backbone (res2-res4) and the RoI head's res5.
#
# Usage: tools/benchmarks/mmdetection/dist_train_c4.sh CFG PRETRAIN GPUS [tools/train.py args...]
#   CFG       a configs/benchmarks/mmdetection/*/*-c4_*.py config
#   PRETRAIN  an ltcls checkpoint: a stage-1 or stage-2 Runner checkpoint as
#             written by tools/train.py (the backbone is read from
#             `backbone.*`; momentum encoder, queue, head are ignored), or
#             tools/model_converters/extract_backbone.py --prefix backbone.
#             output. For a bare backbone file (extract_backbone.py without
#             --prefix) set PREFIX=none.
#   GPUS      processes per node
# Env: PREFIX (default backbone.), NNODES, NODE_RANK, MASTER_ADDR, PORT.
# Example:
#   tools/benchmarks/mmdetection/dist_train_c4.sh \
#       configs/benchmarks/mmdetection/voc0712/faster-rcnn_r50-c4_ms-24k_voc0712.py \
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
    model.roi_head.shared_head.init_cfg.type=Pretrained \
    model.roi_head.shared_head.init_cfg.checkpoint="$PRETRAIN" \
    model.roi_head.shared_head.init_cfg.prefix="$PREFIX" \
    "${@:4}"
