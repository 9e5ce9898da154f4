"""A shot as an OpenCue job, built with the Academy Software Foundation's own client libraries.

OpenCue (opencue.io) runs a job's layer over its frame range in chunks: for each chunk, a
render host (RQD) runs the layer's command with ``#FRAME_START#`` and ``#FRAME_END#`` replaced
by the chunk's first and last frame. The job here is one ``Shell`` layer (``opencue-pyoutline``)
whose command is a ``bgmatte render`` of the chunk, so the farm writes exactly what ``bgmatte
render`` writes, one atomic EXR per frame.

``job_spec`` serialises the job to OpenCue's XML job specification (the ``spec`` Cuebot takes,
DTD ``cjsl``) with pyoutline's own serialiser, which needs no server; ``submit`` hands the job
to the Cuebot of the local OpenCue configuration (``CUEBOT_HOSTS``).
"""

from __future__ import annotations

import getpass
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bgmatte.errors import BgmatteError, library_text

# Cuebot replaces these in a layer's command for each chunk (opencue.io, Reference: Tokens).
FRAME_START, FRAME_END = "#FRAME_START#", "#FRAME_END#"
LAYER = "matte"


@dataclass(frozen=True)
class CueJob:
    """What the job says: its name, show, shot and user, and the layer's range, chunk and
    command (a ``bgmatte render`` argv holding the frame tokens)."""

    name: str
    show: str
    shot: str
    user: str
    frames: str  # OpenCue's frame range: "1001-1100" or "1001-1100x2"
    chunk: int
    command: list[str]


def frame_range(frames: Sequence[int]) -> tuple[str, int]:
    """``frames`` as one OpenCue range and its step: a layer takes one range, and a chunk's
    command names its frames by their first and last, so the frames must be evenly spaced."""
    first, last = frames[0], frames[-1]
    step = frames[1] - frames[0] if len(frames) > 1 else 1
    if list(range(first, last + 1, step)) != list(frames):
        raise BgmatteError(
            "--frames",
            f"{len(frames)} frames that are not one evenly spaced range",
            "submit one job per range, e.g. --frames 1001-1100 or 1001-1100x2",
        )
    return (f"{first}-{last}" if step == 1 else f"{first}-{last}x{step}"), step


def render_command(
    program: Sequence[str],
    inputs: Mapping[str, str | None],
    out: str,
    *,
    step: int,
    params: Mapping[str, Any],
    passes: Sequence[str],
    half: bool,
    device: str,
    skip_existing: bool,
    flag: Any,
) -> list[str]:
    """The ``bgmatte render`` argv of one chunk: absolute paths (render hosts do not share the
    submitter's working folder), the chunk's frames as tokens, every param given spelled as
    its flag (``flag(name)``), so a chunk renders what the same ``render`` would here."""
    frames = f"{FRAME_START}-{FRAME_END}" + (f"x{step}" if step > 1 else "")
    argv = [*program, "render", "--quiet"]
    for name, path in inputs.items():
        if path:
            argv += [flag(name), os.path.abspath(path)]
    argv += ["--out", os.path.abspath(out), "--frames", frames]
    for name in passes:
        argv += ["--pass", name]
    if not half:
        argv.append("--float")
    if device != "cpu":
        argv += ["--device", device]
    if skip_existing:
        argv.append("--skip-existing")
    for name, value in params.items():
        if isinstance(value, bool):
            argv.append(flag(name) if value else "--no-" + flag(name)[2:])
        else:
            argv += [flag(name), repr(value) if isinstance(value, float) else str(value)]
    return argv


def default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's anonymous uid)
        return "bgmatte"


def _outline(job: CueJob) -> Any:
    try:
        import outline
        import outline.cuerun
        import outline.modules.shell
    except ImportError:
        raise BgmatteError(
            "submit opencue",
            "the OpenCue client libraries are not installed",
            "install the farm extra: pip install 'bgmatte[farm]'",
        ) from None
    ol = outline.Outline(
        job.name, shot=job.shot, show=job.show, user=job.user, frame_range=job.frames
    )
    command = shlex.join(job.command)
    ol.add_layer(
        outline.modules.shell.Shell(LAYER, command=command, chunk=job.chunk, range=job.frames)
    )
    return outline.cuerun.OutlineLauncher(ol, user=job.user, range=job.frames, nomail=True)


def job_spec(job: CueJob) -> str:
    """The job as OpenCue's XML job specification, serialised by pyoutline without a server
    (its commands run as they are, not wrapped in pycuerun)."""
    launcher = _outline(job)  # first: it says when the libraries are missing
    from outline.backend import cue

    return str(cue.serialize_simple(launcher))


def submit(job: CueJob) -> str:
    """Launch the job on the Cuebot the OpenCue configuration names; returns the job's name
    as Cuebot has it."""
    launcher = _outline(job)
    try:
        launched = launcher.launch(use_pycuerun=False)
    except Exception as err:  # grpc and opencue raise their own kinds; all mean "not sent"
        first = library_text(err).splitlines()[0] if str(err) else type(err).__name__
        raise BgmatteError(
            "submit opencue",
            f"Cuebot did not take the job ({first})",
            "check CUEBOT_HOSTS and that Cuebot is up, or write the job with --dry-run",
        ) from None
    names = [j.name() if hasattr(j, "name") else str(j) for j in launched or []]
    return ", ".join(names) or job.name
