""":mod:`bgmatte.plugin.heap`: with the thresholds raised, a freed frame-sized buffer is reused
for the next, so its pages are not faulted in again; ``BGMATTE_HEAP=system`` leaves glibc's
default. Each case runs in a child process: the setting is the process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only"
)

# A 64 MiB buffer (past glibc's largest dynamic mmap threshold) made, touched and freed
# three times; the page faults of each.
_CHILD = """
import json, resource, sys
import numpy as np
from bgmatte.plugin.heap import keep_frames_in_heap
kept = keep_frames_in_heap() if sys.argv[1] == "keep" else False
faults = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buf = np.ones(16 << 20, np.float32)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    del buf
print(json.dumps([kept, faults]))
"""


def _faults(mode: str, heap_env: str | None = None) -> tuple[bool, list[int]]:
    env = {k: v for k, v in os.environ.items() if k not in ("BGMATTE_HEAP", "GLIBC_TUNABLES")}
    if heap_env is not None:
        env["BGMATTE_HEAP"] = heap_env
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], env=env, capture_output=True, text=True, check=True
    )
    kept, faults = json.loads(out.stdout)
    return kept, faults


def test_a_freed_frame_is_reused_without_faulting_its_pages_again() -> None:
    kept, faults = _faults("keep")
    default_kept, default_faults = _faults("default")
    assert (kept, default_kept) == (True, False)
    # glibc's default maps every such buffer afresh: hundreds of faults each time (hundreds,
    # not 16384, where the kernel backs it with huge pages); kept, the second and third
    # buffers reuse the first's pages
    assert min(default_faults) > 100
    assert max(faults[1:]) < 10


def test_bgmatte_heap_system_leaves_the_default() -> None:
    kept, faults = _faults("keep", heap_env="system")
    assert kept is False
    assert min(faults) > 100
