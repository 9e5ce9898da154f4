"""Render a shot on a Ray cluster: chunks of frames as tasks on worker actors.

Ray (Moritz et al., OSDI 2018) runs the shot: the driver checks it as ``bgmatte render`` does
(:func:`bgmatte.host_bridge.render.plan_shot`), splits its frames into chunks of consecutive
frames and hands each chunk to an idle worker actor. A worker builds its node once, so the
model loads at its first frame and stays, with the node's cache, for every chunk it renders.
It writes each frame atomically through the same :meth:`ShotJob.render_frame` a single process
uses, so a chunked render writes the same files bit for bit. With ``temporal_radius`` R, the
first and last frames of a chunk read their R neighbours beyond it from disk, as a single
process does: the temporal window follows the plate on disk, not the frames asked for.

Failures: a frame whose render raises is retried once, on another worker where there is one.
A worker that dies (its process killed, its machine lost) has its chunk retried on the others
and a replacement started. A frame that fails twice is reported with its frame number, and the
rest of the shot still renders.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bgmatte.errors import BgmatteError, library_text
from bgmatte.host_bridge.render import ShotJob
from bgmatte.host_bridge.sequence import frame_path
from bgmatte.plugin.heap import keep_frames_in_heap

# Fault injection for the retry path's tests: "FRAME:MARKER" kills the worker process that
# starts FRAME while MARKER does not exist yet (it creates MARKER first, so only once).
KILL_ONCE_ENV = "BGMATTE_RAY_KILL_ONCE"


@dataclass
class FarmResult:
    """What a cluster render did: the files written and, per failed frame, why."""

    written: list[str] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


@dataclass
class _Chunk:
    frames: list[int]
    retry: bool = False  # frames that failed once: a second failure is final
    avoid: Any = None  # the worker they failed on


def chunks(frames: Sequence[int], size: int) -> list[list[int]]:
    """``frames`` in runs of ``size``, in order."""
    return [list(frames[i : i + size]) for i in range(0, len(frames), size)]


def default_chunk(frames: int, workers: int) -> int:
    """About four chunks per worker: enough to balance uneven frames, few enough that the
    temporal window's extra solves at chunk ends stay small."""
    return max(1, math.ceil(frames / (4 * max(1, workers))))


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BgmatteError(
            "--cluster ray",
            "Ray is not installed",
            "install the farm extra: pip install 'bgmatte[farm]'",
        ) from None
    return ray


class ShotWorker:
    """One worker: a node and a fetcher kept for every chunk it renders (a Ray actor)."""

    def __init__(
        self,
        job: ShotJob,
        spell: Callable[[str], str],
        kill_once: tuple[int, str] | None,
        threads: int = 1,
    ) -> None:
        import torch

        keep_frames_in_heap()  # the worker's process is ours (see :mod:`bgmatte.plugin.heap`)
        # As many threads as CPUs Ray gave the worker; the node's model loads once.
        torch.set_num_threads(threads)
        self.job, self.spell, self.kill_once = job, spell, kill_once
        self.node, self.fetcher = job.start()

    def render(self, frames: list[int]) -> list[tuple[int, str | None, str | None]]:
        """Each frame's ``(frame, path written, None)`` or ``(frame, None, why it failed)``."""
        done: list[tuple[int, str | None, str | None]] = []
        for frame in frames:
            self._maybe_die(frame)
            try:
                done.append((frame, self.job.render_frame(self.node, self.fetcher, frame), None))
            except BgmatteError as err:
                done.append((frame, None, library_text(err.spelled(self.spell))))
            except Exception as err:  # a worker reports any failure; the driver decides
                done.append((frame, None, library_text(f"{type(err).__name__}: {err}")))
        return done

    def _maybe_die(self, frame: int) -> None:
        if self.kill_once is None or frame != self.kill_once[0]:
            return
        try:
            with open(self.kill_once[1], "x"):
                pass
        except FileExistsError:
            return
        os._exit(1)


def _kill_once() -> tuple[int, str] | None:
    spec = os.environ.get(KILL_ONCE_ENV)
    if not spec:
        return None
    frame, _, marker = spec.partition(":")
    return int(frame), marker


class _Pool:
    """The driver's side: workers, the chunks waiting, the chunk each worker runs."""

    def __init__(
        self,
        ray: Any,
        job: ShotJob,
        spell: Callable[[str], str],
        size: int,
        warn: Callable[[str], None],
        threads: int,
    ) -> None:
        self.ray, self.job, self.spell, self.warn = ray, job, spell, warn
        self.threads = threads
        self.remote = ray.remote(num_cpus=threads, max_restarts=0)(ShotWorker)
        self.kill_once = _kill_once()
        self.idle = [self._start() for _ in range(size)]
        self.replacements = size  # a dying cluster must not respawn workers forever
        self.running: dict[Any, tuple[Any, _Chunk]] = {}  # task ref -> (worker, chunk)
        self.waiting: deque[_Chunk] = deque()

    def _start(self) -> Any:
        return self.remote.remote(self.job, self.spell, self.kill_once, self.threads)

    def _next_for(self, worker: Any) -> _Chunk | None:
        """The first waiting chunk this worker should take: not one that failed on it, unless
        it is the only worker left."""
        alone = not self.idle and not self.running
        for i, chunk in enumerate(self.waiting):
            if chunk.avoid is not worker or alone:
                del self.waiting[i]
                return chunk
        return None

    def dispatch(self) -> None:
        """Give every idle worker a chunk while there are chunks."""
        still_idle = []
        while self.idle:
            worker = self.idle.pop()
            chunk = self._next_for(worker)
            if chunk is None:
                still_idle.append(worker)
                continue
            self.running[worker.render.remote(chunk.frames)] = (worker, chunk)
        self.idle = still_idle

    def finish_one(self) -> list[tuple[int, str | None, str | None, _Chunk, Any]]:
        """Wait for one chunk; its frames' results, each with its chunk and worker. A worker
        that died gives ``(frame, None, why, chunk, worker)`` for each of its frames."""
        [ref], _ = self.ray.wait(list(self.running), num_returns=1)
        worker, chunk = self.running.pop(ref)
        try:
            results = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as err:
            why = f"its worker died ({type(err).__name__})"
            first, last = chunk.frames[0], chunk.frames[-1]
            frames = f"frame {first}" if first == last else f"frames {first}-{last}"
            self.warn(f"the worker rendering {frames} died; they go to another worker")
            if self.replacements > 0:
                self.replacements -= 1
                self.idle.append(self._start())
            return [(f, None, why, chunk, worker) for f in chunk.frames]
        self.idle.append(worker)
        return [(f, path, why, chunk, worker) for f, path, why in results]

    def busy(self) -> bool:
        return bool(self.running or self.waiting)


def render_on_ray(
    job: ShotJob,
    frames: Sequence[int],
    *,
    address: str | None = None,
    workers: int | None = None,
    chunk: int | None = None,
    threads: int = 1,
    skip_existing: bool = False,
    spell: Callable[[str], str] = str,
    progress: Callable[[int], None] | None = None,
    warn: Callable[[str], None] = lambda _text: None,
) -> FarmResult:
    """Render ``frames`` of ``job`` on Ray: a local Ray of ``workers`` (default: the CPU
    count over ``threads``) when ``address`` is None, else the cluster at ``address``
    (``auto`` or ``ray://host:port``; default workers: its CPUs over ``threads``). Each worker
    takes ``threads`` CPUs and runs torch on as many threads. ``progress(frame)`` after each
    frame done, skipped or failed for good; ``warn(text)`` when a worker dies."""
    ray = _import_ray()
    result = FarmResult()
    todo = []
    for frame in frames:
        if skip_existing and os.path.isfile(frame_path(job.out, frame)):
            if progress:
                progress(frame)
        else:
            todo.append(frame)
    if not todo:
        return result
    started = not ray.is_initialized()
    if started:
        _init(ray, address, workers, threads)
    try:
        size = workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
        size = min(size, len(todo))
        pool = _Pool(ray, job, spell, size, warn, threads)
        step = chunk or default_chunk(len(todo), size)
        pool.waiting.extend(_Chunk(c) for c in chunks(todo, step))
        while pool.busy():
            pool.dispatch()
            if not pool.running:  # every worker is gone
                for c in pool.waiting:
                    for frame in c.frames:
                        result.failed[frame] = "no worker left to render it"
                break
            for frame, path, why, done, worker in pool.finish_one():
                if path is not None:
                    result.written.append(path)
                elif done.retry:
                    result.failed[frame] = why or "failed"
                else:
                    pool.waiting.append(_Chunk([frame], retry=True, avoid=worker))
                    continue
                if progress:
                    progress(frame)
    finally:
        if started:
            ray.shutdown()
    result.written.sort()
    return result


def _init(ray: Any, address: str | None, workers: int | None, threads: int) -> None:
    """Start a local Ray (``address`` None) or join a cluster, quietly: its logging stays in
    its own files, so the command line keeps one line per error."""
    import logging

    options: dict[str, Any] = {
        "logging_level": logging.ERROR,
        "log_to_driver": False,
        "include_dashboard": False,
    }
    if address is None:
        options["num_cpus"] = (workers * threads) if workers else (os.cpu_count() or 1)
    else:
        options["address"] = address
    try:
        ray.init(**options)
    except (ConnectionError, ValueError, RuntimeError) as err:
        raise BgmatteError(
            "--address",
            f"cannot reach the Ray cluster at {address} ({library_text(err).splitlines()[0]})",
            "check the address (auto, or ray://host:port) and that the cluster is up",
        ) from None
