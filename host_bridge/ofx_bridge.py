"""The Python side of the OpenFX bundle (``host_bridge/ofx``): what the C++ shim calls.

The shim is a thin translator between the OpenFX C ABI and this module; everything that
knows about the node lives here, and all matting logic stays in :mod:`bgmatte.plugin`.

* :func:`describe` gives the shim the plug-in description: identifier, clips, and the
  parameters generated from the node's one table (:data:`bgmatte.plugin.params.PARAMS`),
  already in OpenFX terms (a choice's default is its index).
* :class:`Effect` is one OpenFX instance. Its :meth:`Effect.render` takes the host's images as
  NumPy views of the host's own memory (rows bottom-up, as OpenFX stores them, ``bounds`` in
  pixel coordinates at the current render scale), runs :class:`bgmatte.plugin.node.Node` on
  the whole frame (cached, so tiles of one frame solve once) and writes the render window
  into the output image's memory.

Any exception leaves through the shim as ``kOfxStatFailed`` plus a message-suite error.
Importing this module is cheap (no torch): hosts describe plug-ins while they scan.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from bgmatte.errors import BgmatteError, RenderAborted, param
from bgmatte.host_bridge import windows
from bgmatte.plugin.params import INPUTS, PARAMS, PARAMS_BY_NAME, resolve_params

__all__ = ["Effect", "RenderAborted", "describe", "error_message", "host_values"]

IDENTIFIER = "org.bgmatte.BackgroundMatte"
VERSION = (1, 0)
GROUPING = "Keyer"

#: OpenFX clip name -> node input name.
CLIPS: dict[str, str] = {
    "Source": "plate",
    "CleanPlate": "clean_plate",
    "Segmentation": "segmentation",
    "Background": "background",
}

Bounds = tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive), OpenFX pixel coordinates
Image = tuple[Bounds, np.ndarray]  # bounds and the pixels, rows bottom-up (OpenFX order)

_RGBA = "OfxImageComponentRGBA"
_ALPHA = "OfxImageComponentAlpha"


def _param_entry(p: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": p.name,
        "label": p.label,
        "hint": p.hint,
        "kind": p.type,
        "default": p.default,
        "range": None if p.range is None else [float(p.range[0]), float(p.range[1])],
        "choices": None if p.choices is None else list(p.choices),
    }
    if p.type == "choice":
        entry["default"] = list(p.choices).index(p.default)
    elif p.type == "bool":
        entry["default"] = int(bool(p.default))
    return entry


def describe() -> dict[str, Any]:
    """The plug-in description the shim turns into OpenFX descriptor properties."""
    by_name = {i.name: i for i in INPUTS}
    clips = []
    for clip, node_input in CLIPS.items():
        spec = by_name[node_input]
        components = [_RGBA, _ALPHA] if node_input == "segmentation" else [_RGBA]
        clips.append(
            {
                "name": clip,
                "label": spec.label,
                "hint": spec.hint,
                "optional": not spec.required,
                "mask": node_input == "segmentation",
                "components": components,
            }
        )
    return {
        "identifier": IDENTIFIER,
        "version": list(VERSION),
        "label": "bgmatte Background Matte",
        "grouping": GROUPING,
        "description": (
            "Background matting: the plate and a clean plate of the same background in, "
            "a soft alpha and the unpremultiplied scene-linear foreground out."
        ),
        "clips": clips,
        "params": [_param_entry(p) for p in PARAMS],
    }


def host_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Node param values from the host's raw values (choice index, bool as int), checked."""
    values: dict[str, Any] = {}
    for p in PARAMS:
        if p.name not in raw:
            continue
        v = raw[p.name]
        if p.type == "choice":
            assert p.choices is not None
            index = int(v)
            if not 0 <= index < len(p.choices):
                raise BgmatteError(
                    param(p.name), f"choice index {index} is out of range", "pick an entry"
                )
            values[p.name] = p.choices[index]
        elif p.type == "bool":
            values[p.name] = bool(v)
        elif p.type == "int":
            values[p.name] = int(v)
        elif p.type == "float":
            values[p.name] = float(v)
        else:
            values[p.name] = "" if v is None else str(v)
    return resolve_params(values)


def _top_down(pixels: np.ndarray) -> np.ndarray:
    """An H×W×C float32 copy with row 0 at the top, from OpenFX's bottom-up rows."""
    if pixels.dtype != np.float32:
        raise BgmatteError(
            "image", f"has pixel type {pixels.dtype}", "give the node 32-bit float images"
        )
    return np.ascontiguousarray(pixels[::-1])


def _conform(image: Image, plate_bounds: Bounds, name: str) -> np.ndarray:
    """``image`` resampled onto the plate's pixel grid (top-down): the overlap is copied,
    pixels outside the image repeat its nearest edge (OpenFX images may have any bounds), as
    :mod:`bgmatte.host_bridge.windows` places a file's data window."""
    (x1, y1, x2, y2), pixels = image
    px1, py1, px2, py2 = plate_bounds
    if (x1, y1, x2, y2) == plate_bounds:
        return _top_down(pixels)
    if x1 >= px2 or x2 <= px1 or y1 >= py2 or y2 <= py1:
        raise BgmatteError(
            name,
            f"image bounds {(x1, y1, x2, y2)} do not overlap the plate's {plate_bounds}",
            "line the clip up with the plate (same format and position)",
        )
    rows = windows.edge_indices(py1, py2 - py1, y1, y2 - y1)
    cols = windows.edge_indices(px1, px2 - px1, x1, x2 - x1)
    return _top_down(pixels[np.ix_(rows, cols)])


def _fit(pixels: np.ndarray, channels: int) -> np.ndarray:
    """An H×W×C pass as H×W×``channels`` (RGBA output: alpha-like passes fill every channel,
    RGB passes get alpha 1)."""
    c = pixels.shape[2]
    if c == channels:
        return pixels
    if channels == 1:
        return pixels[..., 3:4] if c == 4 else pixels[..., :1]
    if c == 1:
        return np.repeat(pixels, channels, axis=2)
    out = np.ones((*pixels.shape[:2], channels), np.float32)
    n = min(c, channels)
    out[..., :n] = pixels[..., :n]
    return out


def _node_arrays(images: Mapping[str, Image | None], plate_bounds: Bounds) -> dict:
    """One frame's host images as the node's inputs, top-down on the plate's pixel grid."""
    source = images["Source"]
    assert source is not None
    arrays: dict[str, np.ndarray | None] = {"plate": _top_down(source[1])}
    for clip, name in CLIPS.items():
        if clip != "Source":
            got = images.get(clip)
            arrays[name] = None if got is None else _conform(got, plate_bounds, name)
    return arrays


class Effect:
    """One OpenFX instance: a node per parameter set, renders from any thread."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._lock = threading.Lock()
        self._node: Any = None
        self._key = ""

    def node(self, values: Mapping[str, Any]) -> Any:
        """The node for these param values (a new one when they changed)."""
        from bgmatte.plugin.node import Node

        key = json.dumps(values, sort_keys=True, default=str)
        with self._lock:
            if self._node is None or key != self._key:
                self._node = Node(values, device=self.device)
                self._key = key
            return self._node

    def purge(self) -> None:
        """Forget the cached node and its results (OpenFX purge-caches action)."""
        with self._lock:
            self._node = None
            self._key = ""

    def identity(self, params: Mapping[str, Any]) -> str | None:
        """The input clip the output equals for these param values, or None: the aligned
        clean plate pass when nothing aligns, matches, shadows or converts the clean plate."""
        from bgmatte.plugin import colour

        values = host_values(params)
        if values["output"] != "aligned_clean_plate" or values["align"] != "off":
            return None
        if values["match_exposure"] or values["separate_shadows"]:
            return None  # the clean plate as keyed against has the gain, or the shadow, on it
        space = values["colorspace"]  # host images are scene_linear: 'auto' converts nothing
        if space != "auto":
            try:
                if colour.resolve(space, param("colorspace")) != colour.working_space():
                    return None
            except BgmatteError:
                return None  # the render reports it
        return "CleanPlate"

    def render(
        self,
        time: float,
        window: Bounds,
        params: Mapping[str, Any],
        images: Mapping[str, Image | None],
        output: Image,
        neighbours: Mapping[int, Mapping[str, Image | None]] | None = None,
        progress: Any = None,
    ) -> None:
        """Render ``window`` of frame ``time`` into ``output``'s pixels (written in place).

        ``neighbours``: frame → clip → image for the temporal window's other frames (those the
        host has). ``progress(fraction)`` returns True when the host wants the render stopped
        (:class:`RenderAborted` then leaves, and the shim returns quietly)."""
        values = host_values(params)
        node = self.node(values)
        source = images.get("Source")
        if source is None:
            raise BgmatteError("plate", "is not connected", "connect the plate to Source")
        pb = tuple(int(v) for v in source[0])
        plate_bounds: Bounds = (pb[0], pb[1], pb[2], pb[3])
        frame = round(time)
        frames = {frame: _node_arrays(images, plate_bounds)}
        for other, at in (neighbours or {}).items():
            got = at.get("Source")
            if got is not None and tuple(int(v) for v in got[0]) == plate_bounds:
                frames[int(other)] = _node_arrays(at, plate_bounds)

        (ox1, oy1, ox2, oy2), out = output
        wx1, wy1 = max(window[0], ox1), max(window[1], oy1)
        wx2, wy2 = min(window[2], ox2), min(window[3], oy2)
        if wx1 >= wx2 or wy1 >= wy2:
            return
        if out.dtype != np.float32:
            raise BgmatteError("Output", f"has pixel type {out.dtype}", "ask for float output")
        # Outside the plate there is nothing: black, transparent.
        out[wy1 - oy1 : wy2 - oy1, wx1 - ox1 : wx2 - ox1, :] = 0.0
        x1, y1 = max(wx1, plate_bounds[0]), max(wy1, plate_bounds[1])
        x2, y2 = min(wx2, plate_bounds[2]), min(wy2, plate_bounds[3])
        if x1 >= x2 or y1 >= y2:
            return
        px1, py2 = plate_bounds[0], plate_bounds[3]
        region = (x1 - px1, py2 - y2, x2 - px1, py2 - y1)  # top-down, in the plate's pixels
        name = values["output"]
        from bgmatte.host_bridge.arrays import ArrayFetcher

        by_input: dict[str, dict[int, np.ndarray]] = {}
        for f, arrays in frames.items():
            for input_name, pixels in arrays.items():
                if pixels is not None:
                    by_input.setdefault(input_name, {})[f] = pixels
        # Host images are scene-linear: the compositor's working space.
        passes = node.render(frame, ArrayFetcher(**by_input), region, [name], progress)
        pixels = _fit(np.asarray(passes[name], np.float32), out.shape[2])
        out[y1 - oy1 : y2 - oy1, x1 - ox1 : x2 - ox1, :] = pixels[::-1]


def ofx_spelling(name: str) -> str:
    """A parameter as an OpenFX user sees it: its label in the host's parameter panel (the
    requested passes are the Output menu)."""
    if name == "passes":
        name = "output"
    found = PARAMS_BY_NAME.get(name)
    return f"parameter '{found.label}'" if found is not None else name


def error_message(exc: BaseException) -> str:
    """One line for the host's message suite: the project's own errors as they read; any
    other exception is a bug, so its traceback also goes to stderr (the host's log)."""
    if isinstance(exc, BgmatteError):
        return f"bgmatte: {exc.spelled(ofx_spelling)}"
    import traceback

    traceback.print_exception(exc)
    return f"bgmatte: {type(exc).__name__}: {exc}"
