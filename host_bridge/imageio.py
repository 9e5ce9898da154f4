"""Image read and write through OpenImageIO.

Reads keep what a compositor relies on: values as stored (never clamped, no colour conversion:
that is :mod:`bgmatte.plugin.colour`'s job), the data window and the display window, and the
channel names. Writes produce one EXR per frame with the primary pass as ``R G B A`` and extra
passes as named layers (``alpha.A``, ``foreground.R`` ...), and are atomic: a temp file in the
same folder is renamed over the target, so a crash or a full disk never leaves a half-written
frame where a host would read it (DESIGN.md, "Conventions").
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import OpenImageIO as oiio

from bgmatte.errors import BgmatteError, library_call

__all__ = ["Image", "read_image", "write_exr", "write_mp4"]

_RGBA = ("R", "G", "B", "A")
_READ_FIX = "re-export the file; it looks truncated or corrupt"
_WRITE_FIX = "check that the folder exists and is writable"
# C0 and C1 control characters: a damaged header's bytes that would break a one-line message
# (newline, carriage return) or drive the terminal it is printed on (escape).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, eq=False)
class Image:
    """Pixels of one image file, with the windows and metadata a compositor keeps.

    ``pixels`` is float32 ``H×W×C`` and covers the data window, whose top-left corner is
    ``origin`` (x, y). ``full`` is the display window (x, y, width, height). ``colorspace`` is
    the file's ``oiio:ColorSpace`` if it declares one. ``pixel_format`` is the stored sample
    type ("uint8", "uint16", "half", "float", ...), which tells display-encoded integer files
    from scene-linear float ones. Equality and hashing are by identity (``eq=False``):
    comparing pixel arrays field by field would be ambiguous in NumPy.
    """

    pixels: np.ndarray
    channel_names: tuple[str, ...]
    origin: tuple[int, int]
    full: tuple[int, int, int, int]
    colorspace: str | None
    path: str
    pixel_format: str = "float"


def _printable(text: str) -> str:
    """``text`` from a file's header with every control character as U+FFFD, so a message
    that quotes it stays one line and prints nothing but text."""
    return _CONTROL.sub("\ufffd", text)


def _short(err: str, limit: int = 160, path: str = "") -> str:
    """First non-empty line of an OIIO error, at most ``limit`` characters, printable (OIIO
    quotes the header's own bytes: a damaged attribute's type or name). OpenEXR's
    ``EXR Error (<path>):`` loses the ``path`` our message names already, so a long path
    does not push the reason past the limit."""
    if path:
        err = err.replace(f" ({path})", "")
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    text = _printable(lines[0] if lines else "unknown error")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _channel_order(names: tuple[str, ...]) -> list[int]:
    """Indices that put unprefixed R, G, B (and A) first in RGBA order, the rest as stored.

    Only applies when R, G and B all exist; a lone A, Y or other single channel stays as is.
    """
    if not all(c in names for c in _RGBA[:3]):
        return list(range(len(names)))
    first = [names.index(c) for c in _RGBA if c in names]
    return first + [i for i in range(len(names)) if i not in first]


def read_image(path: str, input_name: str) -> Image:
    """Read subimage 0 of any OIIO-readable file as float32, values as stored.

    EXR (half or float, any channel count), PNG, JPEG, TIFF and the rest. Integer files are
    scaled to 0..1 by OIIO but stay display-encoded. A missing, unreadable or truncated file
    raises :class:`BgmatteError` naming ``input_name``.
    """
    if not os.path.isfile(path):
        raise BgmatteError(input_name, f"file not found: {path}", "check the path and frame number")
    inp = oiio.ImageInput.open(path)
    if inp is None:
        err = library_call(oiio.geterror)
        raise BgmatteError(input_name, f"cannot read {path} ({_short(err, path=path)})", _READ_FIX)
    try:
        spec = inp.spec()
        # Read the pixels, not only the header: truncation shows up here, as None or an error.
        data = inp.read_image(0, 0, 0, spec.nchannels, oiio.FLOAT)
        err = library_call(inp.geterror)
        if data is None or err:
            raise BgmatteError(
                input_name,
                f"cannot read {path} ({_short(err or 'no pixels', path=path)})",
                _READ_FIX,
            )
        stored = library_call(lambda: "\0".join(spec.channelnames))
        names = tuple(_printable(n) for n in stored.split("\0")) if spec.channelnames else ()
        names = names or tuple(f"channel{i}" for i in range(spec.nchannels))
        fmt = str(spec.format)
        declared = library_call(lambda: spec.get_string_attribute("oiio:ColorSpace"))
        colorspace = _printable(declared) or None
    finally:
        inp.close()

    pixels = np.asarray(data, dtype=np.float32)
    if pixels.ndim == 4:  # volume images come back D×H×W×C; keep the first slice
        pixels = pixels[0]
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    order = _channel_order(names)
    if order != list(range(len(names))):
        pixels = pixels[:, :, order]
        names = tuple(names[i] for i in order)
    return Image(
        pixels=np.ascontiguousarray(pixels),
        channel_names=names,
        origin=(spec.x, spec.y),
        full=(spec.full_x, spec.full_y, spec.full_width, spec.full_height),
        colorspace=colorspace,
        path=path,
        pixel_format=fmt,
    )


def _layer_channels(name: str, nchannels: int) -> list[str]:
    """Channel names for one layer: "" is the primary (R G B A), else ``name.R`` ... ``name.A``."""
    if nchannels == 4:
        suffixes = list(_RGBA)
    elif nchannels == 3:
        suffixes = list(_RGBA[:3])
    elif nchannels == 1:
        # a matte is an alpha (A); the shadow is a factor on the set's light, a luminance (Y)
        suffixes = ["Y"] if name == "shadow" else ["A"]
    else:
        raise ValueError(f"layer '{name}' has {nchannels} channels; expected 1, 3 or 4")
    return suffixes if name == "" else [f"{name}.{s}" for s in suffixes]


def write_text_atomically(path: str, text: str, input_name: str = "--out") -> None:
    """Write ``text`` (UTF-8) to ``path`` as whole or not at all; errors name ``input_name``."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    _atomic_write(path, ".tmp", write, input_name)


def _atomic_write(
    path: str, suffix: str, write: Callable[[str], None], input_name: str = "--out"
) -> None:
    """Run ``write(tmp)`` on a hidden temp file beside ``path``, then rename it over ``path``.

    Any failure removes the temp file and raises an error naming ``input_name``; the target
    is never left half-written.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise BgmatteError(
            input_name, f"cannot write {path} (folder {folder} does not exist)", _WRITE_FIX
        )
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(
            prefix="." + os.path.basename(path) + ".", suffix=suffix, dir=folder
        )
        os.close(fd)
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs follow the umask
        os.replace(tmp, path)
        tmp = None
    except BgmatteError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        raise BgmatteError(
            input_name, f"cannot write {path} ({_short(str(exc))})", _WRITE_FIX
        ) from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def _write_with_oiio(tmp: str, spec: oiio.ImageSpec, pixels: np.ndarray) -> None:
    """Write ``pixels`` to ``tmp`` with ``spec``; OIIO's errors become RuntimeError."""
    out = oiio.ImageOutput.create(tmp)
    if out is None:
        raise RuntimeError(library_call(oiio.geterror) or "no writer for this file type")
    try:
        if not out.open(tmp, spec):
            raise RuntimeError(library_call(out.geterror) or "open failed")
        if not out.write_image(pixels):
            raise RuntimeError(library_call(out.geterror) or "write failed")
    finally:
        closed = out.close()
    if not closed:
        raise RuntimeError(library_call(out.geterror) or "close failed")


def write_exr(
    path: str,
    layers: list[tuple[str, np.ndarray]],
    *,
    half: bool = True,
    origin: tuple[int, int] = (0, 0),
    full: tuple[int, int, int, int] | None = None,
    colorspace: str | None = None,
    attributes: dict[str, str] | None = None,
) -> None:
    """Write one zip-compressed EXR holding every layer as channels, atomically.

    Layer ``""`` is the primary pass (4 channels: R G B A, 3: R G B, 1: A); a named layer gets
    ``name.R`` ... (1 channel: ``name.A``). Arrays are ``H×W×C`` (or ``H×W`` for one channel),
    all the same size. The data window is ``origin`` plus that size; the display window is
    ``full`` (x, y, w, h; default the data window). ``colorspace`` goes to
    ``oiio:ColorSpace``; ``attributes`` are added as string metadata.
    """
    if not layers:
        raise BgmatteError("--out", f"cannot write {path} (no layers given)", _WRITE_FIX)
    arrays: list[np.ndarray] = []
    names: list[str] = []
    height = width = 0
    for i, (layer, array) in enumerate(layers):
        a = np.asarray(array, dtype=np.float32)
        if a.ndim == 2:
            a = a[:, :, np.newaxis]
        if a.ndim != 3:
            reason = f"layer '{layer}' has shape {a.shape}; expected H×W×C"
            raise BgmatteError("--out", f"cannot write {path} ({reason})", _WRITE_FIX)
        if i == 0:
            height, width = a.shape[:2]
        elif a.shape[:2] != (height, width):
            reason = f"layer '{layer}' is {a.shape[1]}x{a.shape[0]}, the first is {width}x{height}"
            raise BgmatteError("--out", f"cannot write {path} ({reason})", _WRITE_FIX)
        try:
            names += _layer_channels(layer, a.shape[2])
        except ValueError as exc:
            raise BgmatteError("--out", f"cannot write {path} ({exc})", _WRITE_FIX) from exc
        arrays.append(a)
    if len(set(names)) != len(names):
        reason = "two layers share a name"
        raise BgmatteError("--out", f"cannot write {path} ({reason})", _WRITE_FIX)
    if width == 0 or height == 0:
        raise BgmatteError("--out", f"cannot write {path} (the image is empty)", _WRITE_FIX)

    pixels = np.ascontiguousarray(np.concatenate(arrays, axis=2))
    spec = oiio.ImageSpec(width, height, len(names), oiio.HALF if half else oiio.FLOAT)
    spec.channelnames = tuple(names)
    spec.alpha_channel = names.index("A") if "A" in names else -1
    spec.x, spec.y = origin
    fx, fy, fw, fh = full if full is not None else (origin[0], origin[1], width, height)
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = fx, fy, fw, fh
    spec.attribute("compression", "zip")
    if colorspace:
        spec.attribute("oiio:ColorSpace", colorspace)
    for key, value in (attributes or {}).items():
        spec.attribute(key, str(value))
    _atomic_write(path, ".tmp.exr", lambda tmp: _write_with_oiio(tmp, spec, pixels))


def write_mp4(path: str, frames: Sequence[np.ndarray], fps: float = 24.0) -> None:
    """Write display-encoded H×W×3 uint8 RGB frames as an MP4 (MPEG-4 part 2, OpenCV's
    built-in encoder), atomically. For review previews only: lossy, 8-bit."""
    if not frames:
        raise BgmatteError("--preview", f"no frames to write to {path}", "render some frames")
    h, w = frames[0].shape[:2]

    def write(tmp: str) -> None:
        import cv2

        fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]
        video = cv2.VideoWriter(tmp, fourcc, fps, (w, h))
        if not video.isOpened():
            raise RuntimeError("OpenCV has no MPEG-4 encoder here")
        try:
            for f in frames:
                video.write(np.ascontiguousarray(f[..., ::-1]))  # OpenCV wants BGR
        finally:
            video.release()

    _atomic_write(path, ".tmp.mp4", write)
