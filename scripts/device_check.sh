#!/usr/bin/env bash
# The GPU checks of issue 15 in one run on a lent GPU machine (the `device` tool): the GPU
# tests (CuPy twins, the network and the classical prior on the GPU against the CPU), then
# `bgmatte bench speed --device cuda --stages` at HD and 4K, then a cProfile of one cuda call
# (scripts/gpu_profile.py). Output in $OUT/device_check.log.
#
#   usage (on the device, repo root): scripts/device_check.sh
#   e.g. run(command="bash scripts/device_check.sh", carry=[".whl"], timeout_s=480)
#
# The H200 image has torch, CuPy, NumPy, SciPy, OpenCV, safetensors and pytest
# (../.library/device/KINDS.md); OpenColorIO and OpenImageIO travel as wheels in .whl (15 MB
# on 2026-12-04: `pip download --no-deps --only-binary=:all: --python-version 3.12
# --implementation cp --platform manylinux_2_28_x86_64 ... -d .whl opencolorio==2.6.0
# openimageio==3.2.2.0`, the versions .venv has), installed here into /tmp/site. bgmatte is
# assembled from symlinks, as scripts/device_train.sh does.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT:-/tmp/out}"; mkdir -p "$out"
log="$out/device_check.log"
PY="${PYTHON:-python3}"
if compgen -G "$repo/.whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$repo"/.whl/*.whl && export PYTHONPATH=/tmp/site
fi
pkg="$(mktemp -d)"
mkdir -p "$pkg/bgmatte"
for f in "$repo"/bgmatte/*.py; do ln -s "$f" "$pkg/bgmatte/"; done
for d in plugin kernels host_bridge bench; do ln -s "$repo/$d" "$pkg/bgmatte/$d"; done
export PYTHONPATH="$pkg${PYTHONPATH:+:$PYTHONPATH}" PYTHONSAFEPATH=1 PYTHONUNBUFFERED=1
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    "$PY" -c "import torch, cupy; print('torch', torch.__version__, torch.cuda.is_available(), 'cupy', cupy.__version__)"
    echo "== pytest -m gpu"
    (cd "$repo" && "$PY" -m pytest -q -m gpu -rs -p no:cacheprovider tests/kernels \
        tests/plugin/test_classical_torch.py tests/plugin/test_network_engine.py \
        tests/plugin/test_gpu_stages.py)
    echo "== bench speed --device cuda --stages"
    "$PY" -m bgmatte bench speed --sizes HD,4K --device cuda --frames 5 --warmup 2 --stages
    echo "== where the cuda call's time goes (cProfile)"
    "$PY" "$repo/scripts/gpu_profile.py" --rows 25
} 2>&1 | tee "$log"
