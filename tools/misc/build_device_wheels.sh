#!/usr/bin/env bash
# Build the wheels that tools/analysis_tools/gpu_check.sh installs on an
# accelerator machine that has PyTorch with CUDA but no OpenMMLab package
# and no network.
#
#   bash tools/misc/build_device_wheels.sh          # -> wheels/ (git-ignored)
#
# What goes in (all with --no-deps, so nothing else is pulled in):
#   * mmengine 0.10.7, mmpretrain 1.2.0, mmdet 3.3.0 (pure Python);
#   * mmcv 2.1.0 as a *lite* build (MMCV_WITH_OPS=0: no compiled ops; the
#     classification path never calls one), built from the sdist;
#   * their runtime requirements that a bare CUDA-torch machine lacks,
#     read from the packages' Requires-Dist: addict, yapf (+platformdirs),
#     termcolor, rich (+markdown-it-py, mdurl, pygments), pyyaml, packaging,
#     einops, importlib_metadata (+zipp,
#     lazy-importer), mat4py, model-index (the
#     'modelindex' module; +click, markdown, ordered-set), terminaltables, tqdm, six,
#     setuptools<81 (mmengine imports pkg_resources at run time), matplotlib
#     (+contourpy, cycler, fonttools, kiwisolver, pillow, pyparsing,
#     python-dateutil), numpy, pycocotools and shapely (imported by
#     mmdet.datasets, which ltcls' ClassAwareSampler imports),
#     torchvision 0.29.1 (mmpretrain imports it; the build for torch 2.14.1,
#     requirements/torch.txt, installed only next to that torch);
#   * NOT opencv: its wheel alone (55-75 MB) exceeds the device tool's
#     64 MiB carry budget. gpu_check.sh puts a clearly named cv2 stand-in on
#     the path only if the machine has no cv2; the check feeds random
#     tensors and never decodes an image. NOT scipy (35 MB): nothing the
#     check imports needs it.
#
# Binary wheels (numpy, pyyaml, pillow, ...) are for THIS Python
# (cp3XY of the interpreter below); gpu_check.sh installs one only if the
# device lacks the module, and says so if the Python versions differ.
#
# Environment: PY (python with pip and torch, default the repo's .venv or
# python3), WHEELS_OUT (default wheels/), MAX_MB (size budget, default 62 of the
# device tool's 64 MiB).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PY:-}"
if [ -z "$PY" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi
fi
OUT="${WHEELS_OUT:-$ROOT/wheels}"
MAX_MB="${MAX_MB:-62}"
mkdir -p "$OUT"
say() { printf '[build_device_wheels] %s\n' "$*"; }
PIPW=("$PY" -m pip wheel --disable-pip-version-check --no-deps -w "$OUT")

PURE=(
  mmengine==0.10.7 mmpretrain==1.2.0 mmdet==3.3.0
  addict yapf platformdirs termcolor rich markdown-it-py mdurl pygments
  packaging einops importlib_metadata zipp lazy-importer mat4py model-index
  click markdown ordered-set terminaltables tqdm six "setuptools<81"
  cycler pyparsing python-dateutil
)
BINARY=(numpy pyyaml matplotlib contourpy fonttools kiwisolver pillow
        pycocotools shapely torchvision==0.29.1)

say "pure-Python wheels -> $OUT"
"${PIPW[@]}" "${PURE[@]}"
say "binary wheels for $("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
"${PIPW[@]}" --only-binary=:all: "${BINARY[@]}"
if ! ls "$OUT"/mmcv_lite-2.1.0-*.whl >/dev/null 2>&1; then
  say "mmcv 2.1.0 lite (MMCV_WITH_OPS=0) from the sdist"
  # With MMCV_WITH_OPS=0 mmcv's setup.py names the project mmcv-lite (it
  # provides the same 'mmcv' package), so pip refuses it as 'mmcv==2.1.0'
  # from the index: fetch the sdist and build the local file instead.
  # --no-cache-dir: pip caches wheels built from an sdist, and a cached
  # full build (with ops, from make install) must not be reused.
  SD="$(mktemp -d)"
  "$PY" -m pip download --disable-pip-version-check --no-deps \
    --no-binary=:all: -d "$SD" mmcv==2.1.0
  MMCV_WITH_OPS=0 "${PIPW[@]}" --no-cache-dir --no-build-isolation \
    "$SD"/mmcv-2.1.0.tar.gz
  rm -rf "$SD"
fi
size_kb=$(du -sk "$OUT" | cut -f1)
say "$(ls "$OUT" | wc -l) wheels, $((size_kb / 1024)) MiB in $OUT"
if [ "$size_kb" -gt $((MAX_MB * 1024)) ]; then
  say "ERROR: $((size_kb / 1024)) MiB exceeds the ${MAX_MB} MiB budget (the"
  say "device tool carries at most 64 MiB of ignored files)"
  exit 1
fi
