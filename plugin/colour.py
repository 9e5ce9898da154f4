"""Colour management through OpenColorIO.

The node works in the config's ``scene_linear`` role (ACEScg with the built-in ACES studio
config). The config is ``$OCIO`` when set, else ``ocio://studio-config-latest``, which ships
inside OpenColorIO, so no file is needed (DESIGN.md, "Conventions"). Conversions never clamp:
values above 1.0 and below 0.0 survive wherever the transform allows.

Configs and CPU processors are built once and cached (per ``$OCIO`` value, per source space);
creation is serialised with a lock so hosts that render on several threads share one copy.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import PyOpenColorIO as ocio

from bgmatte.errors import BgmatteError, library_text

__all__ = [
    "BUILTIN_CONFIG",
    "colorspaces",
    "config",
    "config_name",
    "default_colorspace",
    "resolve",
    "to_working",
    "working_space",
]

BUILTIN_CONFIG = "ocio://studio-config-latest"
_PICK_FIX = "pick one listed by `bgmatte info --colorspaces`"
# Names the sRGB texture space goes by in common configs (ACES studio/cg configs, OCIO v1
# ACES 1.x, nuke-default, OIIO's interop ID), tried in order.
_SRGB_TEXTURE_NAMES = (
    "sRGB - Texture",
    "srgb_tx",
    "srgb_texture",
    "sRGB Encoded Rec.709 (sRGB)",
    "srgb_rec709_scene",
    "Utility - sRGB - Texture",
    "Input - Generic - sRGB - Texture",
    "sRGB",
    "srgb",
)

_lock = threading.RLock()
_configs: dict[str, ocio.Config] = {}
_processors: dict[tuple[str, str, str], ocio.CPUProcessor] = {}
_srgb_texture: dict[str, str | None] = {}


def _source() -> str:
    """The config to use now: ``$OCIO`` if set and not empty, else the built-in ACES config."""
    return os.environ.get("OCIO") or BUILTIN_CONFIG


def config() -> ocio.Config:
    """The OCIO config for the current ``$OCIO`` value, loaded once and cached."""
    source = _source()
    with _lock:
        cfg = _configs.get(source)
        if cfg is None:
            try:
                cfg = ocio.Config.CreateFromFile(source)
            except Exception as exc:  # OCIO raises its own Exception subclass for every fault
                if source == BUILTIN_CONFIG:
                    raise
                err = " ".join(library_text(str(exc)).split())[:160]
                raise BgmatteError(
                    "$OCIO",
                    f"cannot load OCIO config {source} ({err})",
                    "point $OCIO at a valid config.ocio or unset it to use the built-in ACES "
                    "studio config",
                ) from exc
            _configs[source] = cfg
        return cfg


def config_name() -> str:
    """The config's own name (e.g. ``studio-config-v5.0.0_aces-v2.1_ocio-v2.6``), else its path."""
    return config().getName() or _source()


def colorspaces() -> list[str]:
    """Names of every active colour space in the config, in config order."""
    return list(config().getColorSpaceNames())


def resolve(name: str, input_name: str) -> str:
    """The canonical colour space name for a colour space name, alias or role."""
    name = library_text(name)
    canonical = config().getCanonicalName(name) if name else ""
    if not canonical:
        raise BgmatteError(
            input_name, f"unknown colour space '{name}' in OCIO config {config_name()}", _PICK_FIX
        )
    return str(canonical)


def interop_id(name: str) -> str | None:
    """The colour space's interop ID (OCIO 2.4+, e.g. 'lin_ap1_scene' for ACEScg), which
    OpenEXR files carry as ``colorInteropID`` and OpenImageIO reads as ``oiio:ColorSpace``;
    None where the config gives none."""
    space = config().getColorSpace(name)
    found = getattr(space, "getInteropID", lambda: "")() if space is not None else ""
    return library_text(found) or None


def working_space() -> str:
    """The working space: the colour space of the config's ``scene_linear`` role."""
    if not config().getCanonicalName("scene_linear"):
        raise BgmatteError(
            "$OCIO",
            f"OCIO config {config_name()} has no scene_linear role",
            "add a scene_linear role to the config or unset $OCIO to use the built-in ACES "
            "studio config",
        )
    return resolve("scene_linear", "$OCIO")


def _processor(src: str, dst: str) -> ocio.CPUProcessor:
    """A cached CPU processor from ``src`` to ``dst`` (canonical names) in the current config."""
    key = (_source(), src, dst)
    with _lock:
        proc = _processors.get(key)
        if proc is None:
            proc = config().getProcessor(src, dst).getDefaultCPUProcessor()
            _processors[key] = proc
        return proc


def to_working(pixels: np.ndarray, src: str, input_name: str) -> np.ndarray:
    """Convert the first 3 channels of ``H×W×C`` pixels from ``src`` to the working space.

    Other channels (alpha, extra passes) are copied untouched. Returns float32, unclamped.
    When ``src`` already is the working space the input comes back as is (as float32).
    """
    source = resolve(src, input_name)
    working = working_space()
    array = np.asarray(pixels, dtype=np.float32)
    if source == working:
        return array
    if array.ndim != 3 or array.shape[2] < 3:
        raise BgmatteError(
            input_name,
            f"cannot convert {array.shape[-1] if array.ndim == 3 else 1}-channel pixels "
            f"from '{src}'; colour conversion needs R, G and B",
            "give an RGB image or set the input's colour space to the working space",
        )
    out = array.copy()
    rgb = np.ascontiguousarray(out[:, :, :3])
    _processor(source, working).applyRGB(rgb)  # in place on the contiguous float32 buffer
    out[:, :, :3] = rgb
    return out


def _srgb_texture_space() -> str | None:
    """The config's sRGB texture space (display-encoded sRGB, Rec.709 primaries), if any."""
    source = _source()
    with _lock:
        if source not in _srgb_texture:
            cfg = config()
            found = None
            for name in _SRGB_TEXTURE_NAMES:
                canonical = cfg.getCanonicalName(name)
                if canonical:
                    found = str(canonical)
                    break
            _srgb_texture[source] = found
        return _srgb_texture[source]


def _unknown_declaration(name: str, declared: str) -> BgmatteError:
    return BgmatteError(
        name,
        f"the file declares colour space '{declared}', unknown in OCIO config {config_name()}",
        "set the input's colour space explicitly",
    )


def default_colorspace(declared: str | None, pixel_format: str, name: str) -> str:
    """The colour space to assume for an image file when the user did not name one.

        ``declared`` is what the file says (``oiio:ColorSpace``), ``pixel_format`` its stored
        format ("uint8", "half", ...), ``name`` the input or path that errors name. A space the
        file declares and the config knows wins, as its canonical name. Otherwise float files
        (EXR, HDR, float TIFF) are ``scene_linear``; integer files (8/16-bit PNG, JPEG, TIFF) are
        display-encoded: OIIO's "sRGB" (or no declaration) means the config's sRGB texture space,
        "Linear" means ``scene_linear``. Anything else, and a declaration that is not text (a
    corrupted header), raises rather than guess.
    """
    declared = library_text(declared or "")
    key = declared.lower()
    if key in ("linear", "scene_linear"):
        return "scene_linear"
    if "\ufffd" in declared:  # bytes that are no text: a corrupted header; never guess
        raise _unknown_declaration(name, declared)
    canonical = config().getCanonicalName(declared) if declared else ""
    if canonical:
        return str(canonical)
    if pixel_format in ("half", "float", "double"):
        return "scene_linear"
    if key in ("", "srgb", "srgb_rec709_scene"):
        srgb = _srgb_texture_space()
        if srgb is None:
            raise BgmatteError(
                name,
                f"OCIO config {config_name()} has no sRGB texture colour space to read this "
                f"{pixel_format} file with",
                "set the input's colour space explicitly",
            )
        return srgb
    raise _unknown_declaration(name, declared)
