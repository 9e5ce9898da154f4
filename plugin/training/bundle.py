"""Pack the training mattes and HDR backgrounds into one compressed ``.npz``, once.

The sampler (:mod:`bgmatte.plugin.training.data`) must run where neither OpenImageIO nor
pymatting is installed (a lent GPU machine), so everything that needs them happens here:
decoding, the sRGB EOTF, resizing, and the foreground-colour estimate. The foreground of a
real photo is unknown; ``pymatting.estimate_foreground_ml`` (Germer et al., "Fast multi-level
foreground estimation", ICPR 2020) gives a smooth F with ``alpha*F + (1-alpha)*B ≈ I``, which
we take as the ground truth of the composites. It is solved in linear light, where the
compositing equation holds.

Layout of the archive: ``fg_NN`` float16 H×W×3 linear foreground (zero where alpha is 0, which
compresses well and is never used), ``alpha_NN`` uint8 H×W (NN = the GT number), ``bg_NN``
float16 H×W×3 scene-linear Rec.709 (values above 1 kept), ``names`` (the source stems, mattes
first) and ``meta`` (a JSON string). The data has no open licence: the bundle is for
development only and never goes into the repository or a release.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

BUNDLE_VERSION = 1
BG_LONG_SIDE = 1024


def srgb_eotf(v: np.ndarray) -> np.ndarray:
    """Display-encoded sRGB in [0, 1] to linear light (IEC 61966-2-1 piecewise curve)."""
    v = np.asarray(v, np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _read(path: Path) -> np.ndarray:
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(str(path))
    if buf.has_error:
        raise OSError(f"cannot read {path}: {buf.geterror()}")
    return np.asarray(buf.get_pixels(oiio.FLOAT), np.float32)


def _fit(img: np.ndarray, long_side: int) -> np.ndarray:
    """Resize so the long side is ``long_side`` (area filter down, bilinear up)."""
    h, w = img.shape[:2]
    scale = long_side / max(h, w)
    if scale == 1.0:
        return img
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(img, size, interpolation=interp))


def _sources(shared: Path, holdout: tuple[str, ...]) -> tuple[list[Path], list[Path]]:
    mattes = sorted(
        p
        for p in (shared / "mattes" / "input").glob("GT*.png")
        if p.stem not in holdout and (shared / "mattes" / "gt" / p.name).exists()
    )
    backgrounds = sorted((shared / "backgrounds").glob("*.exr"))
    return mattes, backgrounds


def _meta(
    mattes: list[Path], backgrounds: list[Path], holdout: tuple[str, ...], long_side: int
) -> str:
    def stamp(p: Path) -> dict[str, object]:
        return {"file": str(p), "bytes": p.stat().st_size}

    return json.dumps(
        {
            "version": BUNDLE_VERSION,
            "long_side": long_side,
            "bg_long_side": BG_LONG_SIDE,
            "holdout": list(holdout),
            "mattes": [stamp(p) for p in mattes],
            "backgrounds": [stamp(p) for p in backgrounds],
            "foreground": "pymatting.estimate_foreground_ml on linear light",
        },
        sort_keys=True,
    )


def build_bundle(
    shared_data: str | Path,
    out: str | Path,
    holdout: tuple[str, ...] = ("GT02", "GT15", "GT27"),
    long_side: int = 640,
) -> Path:
    """Build the training bundle from ``shared_data`` (the folder with mattes/ and backgrounds/).

    Skips the held-out mattes (the dev cases are composited from them). Idempotent: if ``out``
    exists and its ``meta`` matches what would be written, nothing is done. Returns ``out``.
    """
    from pymatting import estimate_foreground_ml

    shared, out = Path(shared_data), Path(out)
    mattes, backgrounds = _sources(shared, holdout)
    if not mattes or not backgrounds:
        raise FileNotFoundError(f"no mattes or backgrounds under {shared}")
    meta = _meta(mattes, backgrounds, holdout, long_side)
    if out.exists():
        try:
            with np.load(out) as z:
                if str(z["meta"]) == meta:
                    return out
        except (OSError, KeyError, ValueError):
            pass
    arrays: dict[str, np.ndarray] = {}
    names: list[str] = []
    for p in mattes:
        nn = p.stem[2:]
        rgb = _fit(srgb_eotf(_read(p)[..., :3]).astype(np.float32), long_side)
        alpha = _fit(_read(shared / "mattes" / "gt" / p.name)[..., 0], long_side)
        alpha = np.clip(alpha, 0.0, 1.0)
        fg = estimate_foreground_ml(rgb.astype(np.float64), alpha.astype(np.float64))
        fg = np.where(alpha[..., None] > 0.0, np.clip(fg, 0.0, None), 0.0)
        arrays[f"fg_{nn}"] = fg.astype(np.float16)
        arrays[f"alpha_{nn}"] = np.rint(alpha * 255.0).astype(np.uint8)
        names.append(p.stem)
    for i, p in enumerate(backgrounds):
        bg = _read(p)[..., :3]
        if max(bg.shape[:2]) > BG_LONG_SIDE:
            bg = _fit(bg, BG_LONG_SIDE)
        arrays[f"bg_{i:02d}"] = np.nan_to_num(bg).astype(np.float16)
        names.append(p.stem)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, names=np.array(names), meta=np.array(meta), **arrays)  # type: ignore[arg-type]
    tmp.replace(out)
    return out


def main() -> None:
    """``python -m bgmatte.plugin.training.bundle SHARED_DATA OUT`` prints size and time."""
    import sys

    t0 = time.perf_counter()
    out = build_bundle(sys.argv[1], sys.argv[2])
    dt = time.perf_counter() - t0
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB in {dt:.1f} s")


if __name__ == "__main__":
    main()
