"""The bgmatte node: declared inputs, params and passes; renders one frame for a region.

A host implements :class:`Fetcher` (how to get an input's pixels for a frame) and calls
:meth:`Node.render`; every host (command line, OpenFX, ``bgmatte.matte``) comes in here. The
node converts colour to the working space (the one place that does), then runs the stages of
:mod:`bgmatte.plugin.solve` on the whole frame (the engine's noise and exposure estimates
are global, so a tile must see the same numbers as the whole frame) and returns the
requested passes cropped to the region. Results are cached per :meth:`Node.cache_key`, so
tiled and multi-pass requests for one frame solve once. Thread-safe: hosts may render from
several threads.

With ``temporal_radius`` r > 0, frame N's alpha is the keyed alphas of N-r..N+r (those the
plate has) filtered by :mod:`bgmatte.plugin.temporal`, and its foreground is solved once, for
that alpha: a fixed window, so the result does not depend on render order or chunking, and
each keyed frame is cached for its neighbours.

Same inputs and params give the same output; the cache key (after Gaffer's hashing of what
affects an output) is a SHA-256 of the node version, params and the inputs' identities.
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from bgmatte import kernels
from bgmatte.errors import BgmatteError, ColourSpaceWarning, RenderAborted, param
from bgmatte.plugin import colour, out_of_memory, temporal, uploads
from bgmatte.plugin.params import INPUTS, PARAMS, PASSES, resolve_params
from bgmatte.plugin.passes import Matte
from bgmatte.plugin.solve import Keyed, check, finish, key
from bgmatte.plugin.timing import stage

NODE_VERSION = "bgmatte.node/2"
Region = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), pixels of the plate
Progress = Callable[[float], bool]  # fraction done -> True when the host wants to stop
_T = TypeVar("_T")


def _stage(progress: Progress | None, start: float, width: float) -> Callable[[float], None]:
    """A solve-stage callback mapping [0, 1] onto [start, start + width] of the whole render,
    raising :class:`RenderAborted` when the host says stop."""

    def report(fraction: float) -> None:
        if progress is not None and progress(start + width * fraction):
            raise RenderAborted("the host aborted the render")

    return report


@dataclass(frozen=True)
class Fetched:
    """An input's pixels for one frame, as the host hands them over."""

    pixels: np.ndarray  # H×W×C float32
    colorspace: str | None = None  # the source's own colour space, for colorspace='auto'
    label: str = ""  # where it came from (a path), for messages


class Fetcher(Protocol):
    """What a host implements so the node can pull its inputs."""

    def fetch(self, input_name: str, frame: int) -> Fetched | None:
        """Pixels of ``input_name`` at ``frame``, or None when the input is not connected."""
        ...

    def identity(self, input_name: str, frame: int) -> str | None:
        """A string that changes whenever the pixels would (path + mtime + size, say)."""
        ...

    def frame_exists(self, frame: int) -> bool:
        """Whether the plate has ``frame`` (the temporal window stops at the shot's ends)."""
        ...


class Node:
    """The background-matting node (see module docstring)."""

    inputs = INPUTS
    params = PARAMS
    passes = PASSES

    def __init__(
        self, params: Mapping[str, Any] | None = None, *, device: str = "cpu", cache_frames: int = 2
    ) -> None:
        self.values = resolve_params(params)
        self.device = device
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._cache_frames = cache_frames
        if self.values["temporal_radius"]:  # the window's per-frame mattes and the results
            self._cache_frames = cache_frames + 2 * self.values["temporal_radius"] + 1
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._warned: set[tuple[str, str]] = set()

    def cache_key(self, frame: int, fetcher: Fetcher) -> str:
        """Hash of everything that affects the output of ``frame``."""
        ids = {i.name: fetcher.identity(i.name, frame) for i in INPUTS}
        blob = json.dumps(
            {"node": NODE_VERSION, "params": self.values, "inputs": ids, "frame": frame},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def _fetch(self, fetcher: Fetcher, name: str, frame: int, required: bool) -> Fetched | None:
        with stage("io"):
            return self._fetch_converted(fetcher, name, frame, required)

    def _fetch_converted(
        self, fetcher: Fetcher, name: str, frame: int, required: bool
    ) -> Fetched | None:
        got = fetcher.fetch(name, frame)
        if got is None:
            if required:
                raise BgmatteError(name, "is not connected", f"connect the {name} input")
            return None
        if name == "segmentation":
            return got
        src = self.values["colorspace"]
        if src == "auto":
            src = got.colorspace or "scene_linear"
        pixels = colour.to_working(np.asarray(got.pixels, np.float32), src, name)
        return Fetched(pixels, colour.resolve(src, name), got.label)  # the canonical name

    def _cached(self, key: str, compute: Callable[[], _T]) -> _T:
        """The cached result for ``key``, computed once even when several threads ask."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            result = compute()
            with self._lock:
                self._cache[key] = result
                while len(self._cache) > 2 * self._cache_frames:  # a Keyed and a Matte each
                    self._cache.popitem(last=False)
                self._key_locks.pop(key, None)
            return result

    def _key_frame(
        self, frame: int, fetcher: Fetcher, report: Callable[[float], None] | None
    ) -> Keyed:
        kernels.gpu_index(self.device)  # an unknown device name fails here, before any work
        found = {i.name: self._fetch(fetcher, i.name, frame, i.required) for i in INPUTS}
        self._warn_if_spaces_differ(found)
        plate = found["plate"]
        # Warnings name the frame of a shot, and the plate's file where it has one.
        where = [f"frame {frame}"] if fetcher.frame_exists(frame) else []
        if plate is not None and plate.label and not plate.label.startswith("<"):
            where.append(f"plate {plate.label}")
        try:
            pixels = [None if f is None else f.pixels for f in found.values()]
            inputs = check(*pixels, self.values["nan"])
            return key(inputs, self.values, self.device, report, ", ".join(where))
        except BgmatteError as err:
            got = found.get(err.input_name)
            if got is None or not got.label or got.label.startswith("<"):
                raise
            # Name the file (and so the frame) the bad pixels came from.
            raise err.naming(f"{err.input_name} {got.label}") from err

    def _warn_if_spaces_differ(self, found: Mapping[str, Fetched | None]) -> None:
        """With colorspace 'auto', warn (once per pair of files) when a colour input is read
        as another colour space than the plate: each file declared its own."""
        plate = found.get("plate")
        if self.values["colorspace"] != "auto" or plate is None:
            return
        for name in ("clean_plate", "background"):
            got = found.get(name)
            if got is None or got.colorspace == plate.colorspace:
                continue
            pair = (plate.label, got.label)
            with self._lock:
                if pair in self._warned:
                    continue
                self._warned.add(pair)
            warnings.warn(
                ColourSpaceWarning(
                    f"{name} {got.label}: read as '{got.colorspace}' but the plate "
                    f"{plate.label} as '{plate.colorspace}', the colour spaces the files "
                    f"declare; if both are one camera's pictures, set {param('colorspace')} "
                    "to read them as one space"
                ),
                stacklevel=2,
            )

    def keyed(
        self, frame: int, fetcher: Fetcher, report: Callable[[float], None] | None = None
    ) -> Keyed:
        """``frame``'s checked inputs and the engine's result, before the foreground is
        solved (and before the temporal window), cached."""
        return self._cached(
            "keyed:" + self.cache_key(frame, fetcher),
            lambda: self._key_frame(frame, fetcher, report),
        )

    def window(self, frame: int, fetcher: Fetcher) -> list[int]:
        """The frames the result of ``frame`` depends on: N-r..N+r where the plate has them."""
        r = int(self.values["temporal_radius"])
        return [m for m in range(frame - r, frame + r + 1) if m == frame or fetcher.frame_exists(m)]

    def solve_frame(self, frame: int, fetcher: Fetcher, progress: Progress | None = None) -> Matte:
        """The whole-frame result, from the cache when the inputs did not change.
        ``progress`` (fraction done → stop?) is called between stages.

        NumPy's floating-point warnings are off here: a host shows one line per problem, and
        a result that is not finite is refused with one (:func:`.validate.finite_result`)."""
        # on a GPU each array goes up once a frame; running out of memory is one line
        with out_of_memory.reported(frame), np.errstate(all="ignore"), uploads.scope():
            return self._solve_frame(frame, fetcher, progress)

    def _solve_frame(self, frame: int, fetcher: Fetcher, progress: Progress | None) -> Matte:
        if not self.values["temporal_radius"]:
            if self._cache_frames == 0:  # one call, nothing to keep: no key to compute
                return self._single(frame, fetcher, progress)
            key = "matte:" + self.cache_key(frame, fetcher)
            return self._cached(key, lambda: self._single(frame, fetcher, progress))
        frames = self.window(frame, fetcher)
        blob = json.dumps(["temporal", frame, [self.cache_key(m, fetcher) for m in frames]])
        key = hashlib.sha256(blob.encode()).hexdigest()
        return self._cached(key, lambda: self._stabilised(frame, frames, fetcher, progress))

    def _single(self, frame: int, fetcher: Fetcher, progress: Progress | None) -> Matte:
        if self._cache_frames == 0:
            keyed = self._key_frame(frame, fetcher, _stage(progress, 0.0, 1.0))
        else:
            keyed = self.keyed(frame, fetcher, _stage(progress, 0.0, 1.0))
        return finish(keyed, keyed.result.alpha, self.values, self.device)

    def _stabilised(
        self, frame: int, frames: list[int], fetcher: Fetcher, progress: Progress | None
    ) -> Matte:
        share = 0.95 / len(frames)  # each frame's key; the filter and the unmix take the rest
        centre = self.keyed(frame, fetcher, _stage(progress, 0.0, share))
        plate, alpha = centre.inputs.plate, centre.result.alpha
        neighbours = []
        for i, m in enumerate(f for f in frames if f != frame):
            other = self.keyed(m, fetcher, _stage(progress, share * (i + 1), share))
            if other.result.alpha.shape != alpha.shape:
                h, w = alpha.shape
                other_h, other_w = other.result.alpha.shape
                raise BgmatteError(
                    "plate",
                    f"frame {m} is {other_w}x{other_h} but frame {frame} is {w}x{h}",
                    f"give every frame of the shot the same size, or set "
                    f"{param('temporal_radius')} to 0",
                )
            neighbours.append((other.inputs.plate, other.result.alpha))
        _stage(progress, 0.95, 0.05)(0.0)
        stable = temporal.stabilise(plate, alpha, neighbours)
        return finish(centre, stable, self.values, self.device)

    def render(
        self,
        frame: int,
        fetcher: Fetcher,
        region: Region | None = None,
        passes: Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> dict[str, np.ndarray]:
        """The requested passes (default: the ``output`` param) of ``frame``, cropped to
        ``region``; each H×W×C float32. ``progress(fraction)`` is called between stages; when
        it returns True the render stops with :class:`RenderAborted`."""
        names = list(passes) if passes else [self.values["output"]]
        for name in names:
            if name not in PASSES:
                raise BgmatteError(
                    param("passes"), f"unknown pass '{name}'", f"pick from {', '.join(PASSES)}"
                )
        result = self.solve_frame(frame, fetcher, progress)
        if progress is not None and progress(1.0):
            raise RenderAborted("the host aborted the render")
        h, w = result.alpha.shape
        x0, y0, x1, y1 = region if region is not None else (0, 0, w, h)
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise BgmatteError(
                "region", f"{region} is outside the {w}x{h} frame", "ask for a region inside it"
            )
        with stage("passes"), out_of_memory.reported(frame):
            return {n: result.pass_pixels(n)[y0:y1, x0:x1] for n in names}
