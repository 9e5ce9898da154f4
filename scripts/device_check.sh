#!/usr/bin/env bash
# The GPU checks of issue 15 in one run on a lent GPU machine (the `device` tool): the GPU
# tests (CuPy twins, the network and the classical prior on the GPU against the CPU), then
# `bgmatte bench speed --device cuda --stages` at HD and 4K. Output in $OUT/device_check.log.
#
#   usage (on the device, repo root): scripts/device_check.sh
#   e.g. run(command="bash scripts/device_check.sh", carry=[".whl"], timeout_s=480)
#
# The machine has torch, CuPy, NumPy and safetensors (../.library/device/KINDS.md); what else
# bgmatte imports (opencv-python-headless, scipy, PyOpenColorIO, pytest) travels as wheels in
# .whl (see the device tool's notes: `pip download --no-deps --only-binary=:all:
# --python-version 3.12 ... -d .whl NAME==VERSION`, 64 MiB a call in all), installed here
# into /tmp/site. bgmatte is assembled from symlinks, as scripts/device_train.sh does.
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
} 2>&1 | tee "$log"
