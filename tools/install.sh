#!/usr/bin/env bash
# Install the pinned ltcls stack into a virtual environment (default: ./.venv).
#
#   bash tools/install.sh            # or: make install
#
# Idempotent: every step first checks whether what it installs is already
# there and working, and skips it if so. Steps:
#   1. create the venv (Python 3.11)
#   2. build tools: setuptools<81 (mmcv/mmengine import pkg_resources), wheel, ninja
#   3. torch 2.14.1 + torchvision 0.29.1
#   4. mmengine 0.10.7 and mmcv's other runtime deps
#   5. mmcv 2.1.0 built from the sdist WITH ops (RoIAlign, nms for Faster/Mask R-CNN).
#      About 7-8 minutes on 2 cores the first time; pip caches the wheel after that.
#      The build goes through tools/misc/cxx20_compiler.sh because mmcv 2.1.0
#      hard-codes -std=c++17 and torch >= 2.10 headers need C++20.
#      GPU users: export FORCE_CUDA=1 (and have nvcc on PATH) to build the CUDA ops.
#   6. mmpretrain 1.2.0, mmdet 3.3.0, test requirements, openmim (mim)
#   7. ltcls itself, editable: pip install -e ., then registered the way
#      `setup.py develop` did (ltcls.egg-link) so that `mim` finds ltcls/.mim
#   8. the Fashion-MNIST files (apt package dataset-fashion-mnist) when apt is usable
#      as root; otherwise a note on how to get them (never fatal)
#
# Environment: VENV=path (default .venv), PYTHON=python3.11 interpreter to use.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
cd "$ROOT"

say() { printf '\033[1m[ltcls install]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[ltcls install] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

# 1. venv ---------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  ver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') \
    || die "cannot run '$PYTHON'; set PYTHON=/path/to/python3.11"
  [ "$ver" = "3.11" ] || say "warning: $PYTHON is Python $ver; ltcls is tested on 3.11"
  say "creating virtual environment at $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create the venv at $VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check)
has() { "$PY" -c "$1" >/dev/null 2>&1; }

# 2. build tools ----------------------------------------------------------------
if ! has 'import setuptools, wheel, ninja, sys; v=tuple(int(x) for x in setuptools.__version__.split(".")[:1]); sys.exit(v[0] >= 81)'; then
  say "installing build tools (setuptools<81, wheel, ninja)"
  "${PIP[@]}" -r requirements/build.txt || die "installing build tools failed"
fi

# 3. torch -----------------------------------------------------------------------
if ! has 'import torch, torchvision; assert torch.__version__.startswith("2.14.1"); assert torchvision.__version__.startswith("0.29.1"); import torchvision.ops'; then
  say "installing torch 2.14.1 + torchvision 0.29.1 (large; a few minutes)"
  "${PIP[@]}" -r requirements/torch.txt || die "installing torch/torchvision failed"
fi

# 4. mmengine + mmcv runtime deps ------------------------------------------------------
if ! has 'import mmengine; assert mmengine.__version__ == "0.10.7"; import cv2, addict, yapf'; then
  say "installing mmengine 0.10.7 and mmcv's runtime dependencies"
  "${PIP[@]}" "mmengine==0.10.7" opencv-python-headless addict yapf packaging Pillow pyyaml \
    -r requirements/runtime.txt || die "installing mmengine failed"
fi

# 5. mmcv with ops -------------------------------------------------------------------
MMCV_OK='import torch, mmcv; assert mmcv.__version__ == "2.1.0"
from mmcv.ops import nms, roi_align
b = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
_, keep = nms(b, torch.tensor([0.9, 0.8, 0.7]), 0.5)
assert keep.tolist() == [0, 2], keep'
if ! has "$MMCV_OK"; then
  say "building mmcv 2.1.0 with ops from source (first time: ~8 min on 2 cores)"
  export MMCV_WITH_OPS=1
  export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
  export LTCLS_REAL_CXX="${LTCLS_REAL_CXX:-$(command -v g++ || command -v c++)}"
  [ -n "$LTCLS_REAL_CXX" ] || die "no C++ compiler found (apt-get install g++)"
  export CC="$ROOT/tools/misc/cxx20_compiler.sh" CXX="$ROOT/tools/misc/cxx20_compiler.sh"
  "${PIP[@]}" --no-build-isolation "mmcv==2.1.0" \
    || die "building mmcv 2.1.0 failed (see the compiler output above)"
  unset CC CXX
  has "$MMCV_OK" || die "mmcv 2.1.0 installed but its ops (nms/roi_align) do not work"
fi

# 6. mmpretrain, mmdet, tests -----------------------------------------------------------
if ! has 'import mmpretrain, mmdet, pytest, sklearn, pycocotools; assert mmpretrain.__version__ == "1.2.0"; assert mmdet.__version__ == "3.3.0"'; then
  say "installing mmpretrain 1.2.0, mmdet 3.3.0 and test requirements"
  "${PIP[@]}" "mmpretrain==1.2.0" "mmdet==3.3.0" "mmcv==2.1.0" "mmengine==0.10.7" \
    -r requirements/runtime.txt -r requirements/tests.txt \
    || die "installing mmpretrain/mmdet failed"
fi
if ! has 'import mim, tabulate, pandas'; then
  say "installing openmim 0.3.9 (without opendatalab / openxlab, see requirements/mim.txt)"
  "${PIP[@]}" --no-deps "openmim==0.3.9" && "${PIP[@]}" -r requirements/mim.txt \
    || die "installing openmim failed"
fi

# 7. ltcls ---------------------------------------------------------------------------
# openmim finds a package at <distribution location>/<module>. A PEP 660
# editable install (what `pip install -e .` does with setuptools >= 80) keeps
# its dist-info in site-packages, so mim would look for site-packages/ltcls.
# The checkout is therefore registered as `setup.py develop` did: the
# distribution (ltcls.egg-info) lives in the checkout, site-packages holds
# ltcls.egg-link + an easy-install.pth line (pip uninstall ltcls removes both).
LTCLS_OK="import os, ltcls; assert os.path.realpath(os.path.dirname(os.path.dirname(ltcls.__file__))) == os.path.realpath('$ROOT')"
MIM_OK="import os, warnings; warnings.simplefilter('ignore'); import pkg_resources; loc = pkg_resources.get_distribution('ltcls').location; assert os.path.isfile(os.path.join(loc, 'ltcls', '.mim', 'model-index.yml')), loc"
if ! (cd /tmp && has "$LTCLS_OK" && has "$MIM_OK"); then
  say "installing ltcls (editable, registered for mim)"
  "${PIP[@]}" --no-build-isolation --no-deps -e . || die "pip install -e . failed"
  if ! (cd /tmp && has "$MIM_OK"); then
    SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    "$PY" -m pip uninstall -y -q ltcls || die "pip uninstall ltcls failed"
    LTCLS_MIM_MODE=symlink "$PY" setup.py -q egg_info >/dev/null \
      || die "python setup.py egg_info failed"
    printf '%s\n.\n' "$ROOT" > "$SITE/ltcls.egg-link"
    touch "$SITE/easy-install.pth"
    grep -qxF "$ROOT" "$SITE/easy-install.pth" || echo "$ROOT" >> "$SITE/easy-install.pth"
  fi
  (cd /tmp && has "$LTCLS_OK") || die "ltcls is not importable from $ROOT after pip install -e ."
  (cd /tmp && has "$MIM_OK") || die "mim cannot find $ROOT/ltcls/.mim/model-index.yml"
fi

# 8. Fashion-MNIST files (only the Fashion-MNIST-LT benchmark needs them) ------------
# Debian/Ubuntu package dataset-fashion-mnist: the four standard IDX files in
# /usr/share/datasets/fashion-mnist/. Installed when apt is usable as root;
# never fatal (everything else works without them).
FMNIST_DIR=/usr/share/datasets/fashion-mnist
fmnist_present() { [ -e "$FMNIST_DIR/train-images-idx3-ubyte.gz" ] || [ -e "$FMNIST_DIR/train-images-idx3-ubyte" ]; }
FMNIST_HOW="run 'sudo apt-get install dataset-fashion-mnist', or download the four *.gz files of https://github.com/zalandoresearch/fashion-mnist (data/fashion/) and point data_root at their folder (docs/en/data_preparation.md)"
if ! fmnist_present; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing the Fashion-MNIST files (apt package dataset-fashion-mnist)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist >/dev/null 2>&1; then
      (apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist >/dev/null 2>&1) || true
    fi
    fmnist_present || say "warning: could not install dataset-fashion-mnist; to get the Fashion-MNIST-LT data $FMNIST_HOW"
  else
    say "note: no Fashion-MNIST files in $FMNIST_DIR (not root or no apt-get); to run the Fashion-MNIST-LT benchmark $FMNIST_HOW"
  fi
fi

say "done: $("$PY" -c 'import torch, mmcv, mmengine, mmpretrain, mmdet, ltcls; print(f"torch {torch.__version__}, mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, mmpretrain {mmpretrain.__version__}, mmdet {mmdet.__version__}, ltcls {ltcls.__version__}")')"
