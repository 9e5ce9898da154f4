"""Where a frame's time goes: exclusive wall time per named stage, recorded only when asked.

The stages of a frame mark themselves with ``with stage("align"): ...``. Outside
:func:`record` that is a thread-local lookup and nothing more. Inside it, each stage gets the
time spent in it and not in a stage nested within it, so the stages add up to the call
(``bgmatte bench speed --stages``). On a GPU, ``sync`` (e.g. ``torch.cuda.synchronize``)
runs at every stage boundary so that queued work counts against the stage that queued it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# The order tables print them in. "engine" is an engine's own work outside the nested stages
# (the classical engine's whole key; the network engine's tensor conversions, padding, snap).
STAGES = (
    "io",
    "validate",
    "align",
    "exposure",
    "shadow",
    "prior",
    "base",
    "refine",
    "edges",
    "engine",
    "light",
    "unmix",
    "passes",
)

_local = threading.local()


class _Recorder:
    def __init__(self, sync: Callable[[], None] | None) -> None:
        self.times: dict[str, float] = {}
        self.stack: list[str] = []
        self.sync = sync
        self.since = time.perf_counter()

    def _lap(self) -> None:
        """Charge the time since the last boundary to the innermost open stage."""
        if self.sync is not None:
            self.sync()
        now = time.perf_counter()
        if self.stack:
            name = self.stack[-1]
            self.times[name] = self.times.get(name, 0.0) + now - self.since
        self.since = now


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Mark the enclosed work as stage ``name`` (exclusive of stages nested in it)."""
    rec: _Recorder | None = getattr(_local, "recorder", None)
    if rec is None:
        yield
        return
    rec._lap()
    rec.stack.append(name)
    try:
        yield
    finally:
        rec._lap()
        rec.stack.pop()


@contextmanager
def record(sync: Callable[[], None] | None = None) -> Iterator[dict[str, float]]:
    """Collect stage times (seconds, by name) of the work done inside, on this thread; the
    dict is filled when the block ends, with ``"other"`` for time in no stage."""
    rec = _Recorder(sync)
    previous = getattr(_local, "recorder", None)
    _local.recorder = rec
    start = rec.since
    out: dict[str, float] = {}
    try:
        yield out
    finally:
        rec._lap()
        _local.recorder = previous
        out.update(rec.times)
        out["other"] = max(0.0, rec.since - start - sum(rec.times.values()))
