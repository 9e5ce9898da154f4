"""Frame sequences: path patterns and frame ranges as compositors and farms write them.

Patterns: ``####`` (Nuke; the number of ``#`` is the padding), ``%04d`` / ``%d`` (printf),
``$F4`` / ``$F`` (Houdini). Every pattern token in a path takes the same frame number.
Frame ranges: ``1001-1100``, ``1-20x2`` (every 2nd frame), ``7``, and comma lists of these.
"""

from __future__ import annotations

import glob
import os
import re

from bgmatte.errors import BgmatteError

__all__ = ["find_frames", "frame_path", "has_pattern", "parse_frames"]

# One token: a run of '#', printf '%d' / '%0Nd', or Houdini '$F' / '$FN'.
_TOKEN = re.compile(r"#+|%(?:0(\d+))?d|\$F(\d*)")
_RANGE = re.compile(r"^(\d+)(?:-(\d+)(?:x(\d+))?)?$")
_FRAMES_FIX = "write it as 1001-1100, 1-20x2 or 1,5,9"


def has_pattern(path: str) -> bool:
    """True if ``path`` holds a frame token (``####``, ``%04d``, ``%d``, ``$F``, ``$F4``)."""
    return _TOKEN.search(path) is not None


def _padding(token: re.Match[str]) -> int:
    """Zero padding a token asks for (0 or 1 means none)."""
    text = token.group(0)
    if text.startswith("#"):
        return len(text)
    digits = token.group(1) or token.group(2)
    return int(digits) if digits else 0


def frame_path(pattern: str, frame: int) -> str:
    """``pattern`` with every frame token replaced by ``frame``, zero-padded as the token says.

    A frame wider than the padding is written in full (``####`` and 12345 give ``12345``).
    A path without a token comes back unchanged.
    """
    return _TOKEN.sub(
        lambda m: f"{frame:0{_padding(m)}d}" if _padding(m) > 1 else str(frame), pattern
    )


def parse_frames(spec: str) -> list[int]:
    """Frames named by a range spec, sorted, each once.

    ``"1001-1100"`` (inclusive), ``"1-20x2"`` (1, 3, ..., 19), ``"7"``, ``"1,3,10-12"``.
    Spaces around parts are ignored.
    """
    if not spec.strip():
        raise BgmatteError("--frames", "no frames given", _FRAMES_FIX)
    frames: set[int] = set()
    for raw in spec.split(","):
        part = raw.strip()
        match = _RANGE.match(part)
        if match is None:
            raise BgmatteError("--frames", f"cannot read frame range '{spec}'", _FRAMES_FIX)
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        step = int(match.group(3)) if match.group(3) is not None else 1
        if step < 1:
            raise BgmatteError(
                "--frames", f"frame step in '{part}' must be 1 or more", "write it as 1-20x2"
            )
        if last < first:
            raise BgmatteError(
                "--frames",
                f"frame range '{part}' runs backwards",
                f"write the first frame first, e.g. {last}-{first}",
            )
        frames.update(range(first, last + 1, step))
    return sorted(frames)


def find_frames(pattern: str) -> list[int]:
    """Frames of ``pattern`` present on disk, sorted.

    A file counts only if its name is exactly what :func:`frame_path` writes for its frame
    (``####`` finds ``0007`` but not ``007``), so no frame is listed twice. A path without a
    token gives an empty list.
    """
    tokens = list(_TOKEN.finditer(pattern))
    if not tokens:
        return []
    glob_parts: list[str] = []
    regex_parts: list[str] = []
    pos = 0
    for token in tokens:
        literal = pattern[pos : token.start()]
        glob_parts += [glob.escape(literal), "*"]
        regex_parts += [re.escape(literal), r"(\d+)"]
        pos = token.end()
    glob_parts.append(glob.escape(pattern[pos:]))
    regex_parts.append(re.escape(pattern[pos:]))
    matcher = re.compile("".join(regex_parts))
    frames: set[int] = set()
    for path in glob.glob("".join(glob_parts)):
        match = matcher.fullmatch(path)
        if match is None:
            continue
        frame = int(match.group(1))
        if frame_path(pattern, frame) == path and os.path.isfile(path):
            frames.add(frame)
    return sorted(frames)
