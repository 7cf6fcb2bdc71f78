#!/usr/bin/env bash
# The prepared accelerator check of ltcls (issue 17), for a machine that has
# PyTorch with CUDA but no OpenMMLab package and no network.
#
#   bash tools/misc/build_device_wheels.sh     # here, once: -> wheels/
#   bash tools/analysis_tools/gpu_check.sh     # there, wheels/ carried along
#
# 1. installs what the machine lacks of mmengine / mmcv (lite) / mmpretrain
#    / mmdet and their requirements from the git-ignored wheels/ folder into
#    a throw-away target dir (tools/analysis_tools/install_device_wheels.py;
#    nothing is installed into the machine's Python, no network is used);
# 2. runs tools/analysis_tools/benchmark_gpu_step.py: every loss in float64
#    on the device vs CPU, then 20 AMP training steps of CE, PaCo, ResCom,
#    SBCL and Hybrid-SC (ResNet-50, 224 px, batch 64) and prints the table
#    (step ms, images/s, peak GPU memory, ratio to CE, loss + queue +
#    mining share, host syncs per step);
# 3. stops after BUDGET_S seconds (default 480, the 8-minute budget).
#
# Output: the table on stdout and gpu_check.md / gpu_check.json in
# $OUT (the device tool's output folder) or work_dirs/gpu_check.
# Environment: PYTHON (default python3), WHEELS (default wheels/),
# LTCLS_DEVICE_SITE (install target, default $TMPDIR/ltcls_device_site),
# DEVICE (default cuda), BUDGET_S. Extra arguments go to the driver, e.g.
#   DEVICE=cpu bash tools/analysis_tools/gpu_check.sh --steps 2 --size 32 \
#       --batch 4 --depth 18 --num-classes 10 --paco-queue 64 --rescom-q 2
set -euo pipefail
t0=$(date +%s)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-python3}"
WHEELS="${WHEELS:-$ROOT/wheels}"
SITE="${LTCLS_DEVICE_SITE:-${TMPDIR:-/tmp}/ltcls_device_site}"
DEVICE="${DEVICE:-cuda}"
RESULTS="${OUT:-$ROOT/work_dirs/gpu_check}"
BUDGET_S="${BUDGET_S:-480}"
say() { printf '[gpu_check] %s\n' "$*"; }
cd "$ROOT"
mkdir -p "$RESULTS"

"$PY" -c 'import sys, torch; print("[gpu_check] python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "devices", torch.cuda.device_count())' \
  || { say "ERROR: '$PY' cannot import torch"; exit 2; }
"$PY" tools/analysis_tools/install_device_wheels.py --wheels "$WHEELS" --target "$SITE"
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
left=$((BUDGET_S - ($(date +%s) - t0)))
say "install done in $(($(date +%s) - t0)) s; driver budget ${left} s"
rc=0
timeout --signal=INT --kill-after=10 "$left" "$PY" \
  tools/analysis_tools/benchmark_gpu_step.py --device "$DEVICE" \
  --json-out "$RESULTS/gpu_check.json" "$@" 2>"$RESULTS/gpu_check.err" \
  | tee "$RESULTS/gpu_check.md" || rc=$?
[ "$rc" -eq 0 ] || { say "driver exit status $rc (124: over the budget); stderr tail:"; tail -n 30 "$RESULTS/gpu_check.err" >&2; }
say "total $(($(date +%s) - t0)) s"
exit "$rc"
