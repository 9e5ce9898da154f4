#!/usr/bin/env bash
# Run the CuPy kernel tests (pytest -m gpu) on a CUDA machine, without installing bgmatte.
#
#   bash scripts/gpu_check.sh            # python3 by default; PYTHON=/path/python3 to choose
#   GPU_CHECK_PIP=0 bash scripts/gpu_check.sh   # never try pip
#
# bgmatte is assembled in a temp dir from symlinks to the repo's plugin/, kernels/ and
# bgmatte/errors.py (with an empty __init__.py, so the heavy top-level imports are skipped). If CuPy is missing, one
# `pip install cupy-cuda12x` (cupy-cuda13x on a CUDA 13 driver) is tried; offline it fails.
# Exit status: 0 all GPU tests ran and passed; 1 a test failed; 2 CuPy/GPU unusable or the
# GPU tests were skipped.
set -u
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/bgmatte"
: >"$TMP/bgmatte/__init__.py"
ln -s "$REPO/plugin" "$TMP/bgmatte/plugin"
ln -s "$REPO/kernels" "$TMP/bgmatte/kernels"
ln -s "$REPO/bgmatte/errors.py" "$TMP/bgmatte/errors.py"
export PYTHONPATH="$TMP${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONSAFEPATH=1 # keep the repo root (whose bgmatte/ is not the package) off sys.path
export PYTHONUNBUFFERED=1

summary() { echo "== SUMMARY: $*"; }

echo "== gpu_check in $REPO"
"$PY" --version
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    CUDA_MAJOR="$(nvidia-smi | sed -n 's/.*CUDA Version: *\([0-9]*\).*/\1/p' | head -n1)"
else
    echo "nvidia-smi: not found"
    CUDA_MAJOR=""
fi

probe() {
    "$PY" - <<'EOF'
import cupy
rt = cupy.cuda.runtime
n = rt.getDeviceCount()
name = rt.getDeviceProperties(0)["name"]
name = name.decode() if isinstance(name, bytes) else name
print(f"cupy {cupy.__version__}, CUDA runtime {rt.runtimeGetVersion()}, {n} device(s), 0: {name}")
x = cupy.arange(4, dtype=cupy.float32)
assert float((x * 2).sum()) == 12.0, "a trivial kernel gave a wrong answer"
import bgmatte.kernels as k
print("bgmatte.kernels from", k.__file__, "cupy_available:", k.cupy_available())
EOF
}

if ! probe; then
    WHEEL="cupy-cuda12x"
    [ "$CUDA_MAJOR" = "13" ] && WHEEL="cupy-cuda13x"
    if [ "${GPU_CHECK_PIP:-1}" != "0" ]; then
        echo "== CuPy missing or unusable: trying 'pip install $WHEEL' (needs the internet)"
        timeout 600 "$PY" -m pip install --no-input -q "$WHEEL" || echo "pip install $WHEEL failed"
    fi
    if ! probe; then
        summary "FAIL - CuPy with a CUDA GPU is not usable here (see above); bring a $WHEEL wheel" \
            "and 'pip install --no-index <wheel>', then rerun"
        exit 2
    fi
fi

echo "== pytest tests/kernels -m gpu"
cd "$REPO" || exit 2
"$PY" -m pytest tests/kernels -q -m gpu -rs -p no:cacheprovider 2>&1 | tee "$TMP/log"
rc=${PIPESTATUS[0]}
last="$(grep -E '(passed|failed|error|skipped|deselected)' "$TMP/log" | tail -n1)"
if [ "$rc" -ne 0 ]; then
    summary "FAIL - pytest exit $rc: $last"
    exit 1
elif grep -qE '[0-9]+ skipped' <<<"$last" || ! grep -qE '[0-9]+ passed' <<<"$last"; then
    summary "FAIL - GPU tests did not run: $last"
    exit 2
fi
summary "OK - $last"
