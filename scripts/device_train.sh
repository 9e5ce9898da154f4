#!/usr/bin/env bash
# Train the photo model on a rented GPU machine (the `device` tool), then hand back the
# weights, report, TensorBoard events and stage grids through $OUT.
#
#   usage (on the device, repo root): [CONFIG=configs/X.toml] scripts/device_train.sh MINUTES [extra train args]
#   the data bundle must travel in .carry/bundle.npz (built here by
#   `python -m bgmatte.plugin.training.bundle`), since ../shared does not travel.
set -uo pipefail
minutes="${1:-8}"; shift || true
repo="$(cd "$(dirname "$0")/.." && pwd)"
pkg="$(mktemp -d)"
mkdir -p "$pkg/bgmatte"
for f in "$repo"/bgmatte/*.py; do ln -s "$f" "$pkg/bgmatte/"; done
for d in plugin kernels host_bridge bench; do ln -s "$repo/$d" "$pkg/bgmatte/$d"; done
export PYTHONPATH="$pkg${PYTHONPATH:+:$PYTHONPATH}" PYTHONSAFEPATH=1
out="${OUT:-/tmp/out}"; mkdir -p "$out"
cfg="$repo/.carry/photo_device.toml"
sed "s#^bundle = .*#bundle = \"$repo/.carry/bundle.npz\"#" "$repo/${CONFIG:-configs/photo.toml}" > "$cfg"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
[ -x scripts/gpu_check.sh ] && [ -n "${GPU_CHECK:-}" ] && { GPU_CHECK_PIP=0 timeout 120 scripts/gpu_check.sh 2>&1 | tail -n 8; }
"${PYTHON:-python3}" -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
"${PYTHON:-python3}" -m bgmatte train --config "$cfg" --out /tmp/run --device "${DEVICE:-cuda}" --workers "${WORKERS:-14}" \
    --minutes "$minutes" "$@" 2>&1 | tr '\r' '\n' | grep -v '^\s*$' | tail -n 40
rc=${PIPESTATUS[0]}
cp /tmp/run/model.safetensors /tmp/run/report.html "$out"/ 2>/dev/null
ls /tmp/run/images | tail -n 2 | while read -r f; do cp "/tmp/run/images/$f" "$out"/; done
tar -C /tmp/run -czf "$out/tensorboard.tgz" tensorboard 2>/dev/null
ls -la "$out"
exit "$rc"
