"""Which float type the network's convolutions run in on this CPU: measured, not assumed.

bfloat16 autocast with channels-last tensors runs a conv stack several times faster than
float32 on CPUs with bf16 matrix units (Intel AMX), and 5-30 times slower on CPUs without them
(AVX2), where oneDNN emulates it. The machines bgmatte runs on differ, so ``auto`` times a
small conv stack in both once per machine (about a second) and keeps the faster, caching the
choice in ``$XDG_CACHE_HOME/bgmatte/precision.json`` under the CPU's model, its bf16 flags and
the torch version. ``fp32`` and ``bf16`` force one; a GPU always runs float32.
"""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from pathlib import Path

import torch
from torch import nn

# bf16 must beat fp32 by this margin to be chosen: a tie is not worth its rounding.
BF16_MARGIN = 0.8
_SIZE, _CHANNELS, _REPEATS = 96, 32, 3

_lock = threading.Lock()
_chosen: dict[str, str] = {}


def cpu_name() -> str:
    """The CPU's model name and its bf16 instruction flags (Linux: /proc/cpuinfo)."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    bf16 = sorted(f for f in flags if "bf16" in f)
    return f"{name} [{' '.join(bf16) or 'no bf16 flags'}]"


def fingerprint() -> str:
    """What the choice depends on: the CPU and the torch build. Not the thread count: every
    process on a machine (a render farm's one-thread workers beside a two-thread render) must
    choose alike, or their frames would differ by the rounding of the type."""
    return f"{cpu_name()}; torch {torch.__version__}"


def measure() -> dict[str, float]:
    """Median milliseconds of a small channels-last conv stack in float32 and in bfloat16
    autocast on this CPU."""
    torch.manual_seed(0)
    convs = [nn.Conv2d(_CHANNELS, _CHANNELS, 3, padding=1) for _ in range(3)]
    for conv in convs:  # channels-last weights, as the engine's network has them
        conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)
    net = nn.Sequential(*(m for conv in convs for m in (conv, nn.ReLU()))).eval()
    x = torch.rand(1, _CHANNELS, _SIZE, _SIZE).contiguous(memory_format=torch.channels_last)
    times: dict[str, float] = {}
    with torch.inference_mode():
        for kind in ("fp32", "bf16"):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=kind == "bf16"):
                net(x)  # warm-up: oneDNN picks its kernels
                runs = []
                for _ in range(_REPEATS):
                    start = time.perf_counter()
                    net(x)
                    runs.append(time.perf_counter() - start)
            times[kind] = 1000.0 * sorted(runs)[len(runs) // 2]
    return times


def choose(times: dict[str, float]) -> str:
    """bf16 where it is clearly faster, else fp32."""
    return "bf16" if times["bf16"] < BF16_MARGIN * times["fp32"] else "fp32"


def _cache_file() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "bgmatte" / "precision.json"


def _read_cache(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, data: dict[str, dict]) -> None:
    """Best effort, atomic: a read-only home or a full disk only costs a new measurement."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass


def cpu_precision(setting: str = "auto") -> str:
    """'fp32' or 'bf16' for the network on this CPU; ``setting`` 'auto' measures once per
    machine (cached on disk) and once per process (cached in memory)."""
    if setting != "auto":
        return setting
    key = fingerprint()
    with _lock:
        if key in _chosen:
            return _chosen[key]
        path = _cache_file()
        cache = _read_cache(path)
        entry = cache.get(key)
        if not (isinstance(entry, dict) and entry.get("choice") in ("fp32", "bf16")):
            times = measure()
            entry = {**times, "choice": choose(times)}
            cache[key] = entry
            _write_cache(path, cache)
        _chosen[key] = str(entry["choice"])
        return _chosen[key]
