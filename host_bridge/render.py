"""Render a shot to EXR files: the command line's and the farm's job.

One EXR per frame, written atomically (temp file + rename, see
:func:`bgmatte.host_bridge.imageio.write_exr`), so an interrupted render leaves only whole files and
resumes with ``skip_existing``. The primary layer is the node's ``output`` pass (``rgba`` by
default: premultiplied foreground in R, G, B and the matte in A); each extra pass goes in as
a named layer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bgmatte.errors import BgmatteError, param
from bgmatte.host_bridge.files import FileFetcher
from bgmatte.host_bridge.imageio import write_exr
from bgmatte.host_bridge.sequence import find_frames, frame_path, has_pattern
from bgmatte.plugin import colour
from bgmatte.plugin.node import Node


def shot_frames(plate: str, frames: Sequence[int] | None) -> list[int]:
    """The frames to render: as given, else every plate frame on disk, else one (a still)."""
    if frames:
        return list(frames)
    if not has_pattern(plate):
        return [1]
    found = find_frames(plate)
    if not found:
        raise BgmatteError(
            "plate", f"no frames found for {plate}", "check the pattern, or pass --frames"
        )
    return found


def _check_out(out: str, fetcher: FileFetcher, frames: Sequence[int]) -> None:
    if len(frames) > 1 and not has_pattern(out):
        raise BgmatteError(
            "--out",
            f"{out} has no frame pattern but {len(frames)} frames are rendered",
            "put #### (or %04d, $F4) in the output path",
        )
    # Every input file of every frame, resolved once: O(inputs × frames), not frames².
    sources: dict[str, str] = {}
    for name in fetcher.paths:
        for f in frames:
            src = fetcher.path(name, f)
            if src is not None:
                sources.setdefault(os.path.realpath(src), name)
    for frame in frames:
        name = sources.get(os.path.realpath(frame_path(out, frame)))
        if name is not None:
            raise BgmatteError(
                "--out",
                f"{frame_path(out, frame)} would overwrite the {name} input",
                "choose another output path",
            )


@dataclass(frozen=True)
class ShotJob:
    """Everything a process needs to render frames of a shot, as plain data: the farm sends it
    to every worker, so each writes the same files a single process would."""

    inputs: dict[str, str | None]
    out: str
    params: dict[str, Any]
    passes: tuple[str, ...]  # the primary pass first
    half: bool
    device: str
    header: dict[str, str]

    def start(self) -> tuple[Node, FileFetcher]:
        """This process's node (its model loads once, at its first frame) and fetcher."""
        return Node(self.params, device=self.device), FileFetcher(self.inputs)

    def render_frame(self, node: Node, fetcher: FileFetcher, frame: int) -> str:
        """Solve ``frame`` and write its EXR atomically; returns the path."""
        path = frame_path(self.out, frame)
        got = node.render(frame, fetcher, passes=list(self.passes))
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        plate = fetcher.plate_image(frame)
        primary, *extra = self.passes
        layers = [("", got[primary])] + [(name, got[name]) for name in extra]
        write_exr(
            path,
            layers,
            half=self.half,
            origin=plate.origin,
            full=plate.full,
            colorspace=self.header["bgmatte:workingSpace"],
            attributes={**self.header, "bgmatte:frame": str(frame)},
        )
        return path


def plan_shot(
    inputs: Mapping[str, str | None],
    out: str,
    *,
    frames: Sequence[int] | None = None,
    params: Mapping[str, Any] | None = None,
    passes: Sequence[str] = (),
    half: bool = True,
    device: str = "cpu",
) -> tuple[ShotJob, list[int]]:
    """Check the shot before any frame is solved (output pattern, inputs on disk, the colour
    space) and return its job and frames; every error here is one line naming the input."""
    fetcher = FileFetcher(inputs)
    todo = shot_frames(inputs["plate"] or "", frames)
    _check_out(out, fetcher, todo)
    fetcher.check_exists(todo)
    node = Node(params, device=device)
    if node.values["colorspace"] != "auto":
        # Checked up front so the message names the param, not the first input converted.
        colour.resolve(node.values["colorspace"], param("colorspace"))
    primary = node.values["output"]
    working = colour.working_space()
    header = {
        "bgmatte:params": json.dumps(node.values, sort_keys=True),
        "bgmatte:inputs": json.dumps({k: v for k, v in inputs.items() if v}, sort_keys=True),
        "bgmatte:workingSpace": working,
        # what OpenEXR readers (OIIO, Nuke) take the file's colour space from
        **({"colorInteropID": interop} if (interop := colour.interop_id(working)) else {}),
        "bgmatte:ocioConfig": colour.config_name(),
    }
    job = ShotJob(
        inputs=dict(inputs),
        out=out,
        params=dict(params or {}),
        passes=(primary, *(p for p in passes if p != primary)),
        half=half,
        device=device,
        header=header,
    )
    return job, todo


def render_shot(
    inputs: Mapping[str, str | None],
    out: str,
    *,
    frames: Sequence[int] | None = None,
    params: Mapping[str, Any] | None = None,
    passes: Sequence[str] = (),
    half: bool = True,
    skip_existing: bool = False,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
    preview: str | None = None,
) -> list[str]:
    """Render ``frames`` of the shot; returns the files written (skipped ones excluded).
    ``preview``: also write ``<preview>.mp4`` and ``<preview>.png`` for review
    (:mod:`bgmatte.host_bridge.preview`; frames skipped as existing are solved for it)."""
    job, todo = plan_shot(
        inputs, out, frames=frames, params=params, passes=passes, half=half, device=device
    )
    node, fetcher = job.start()
    written = []
    review = None
    if preview:
        from bgmatte.host_bridge.preview import ShotPreview

        review = ShotPreview(preview, todo)
    for frame in todo:
        if not (skip_existing and os.path.isfile(frame_path(out, frame))):
            written.append(job.render_frame(node, fetcher, frame))
        if review is not None:
            review.add(
                frame, node.solve_frame(frame, fetcher), node.keyed(frame, fetcher).inputs.plate
            )
        if progress:
            progress(frame)
    if review is not None:
        review.write()
    return written
