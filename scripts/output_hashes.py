"""Hash every output of bgmatte on the dev cases, a temporal window, the demo and a command-line
render, so that a restructuring can show its outputs are bit-identical.

    python scripts/output_hashes.py ../shared/data/dev_cases > before.json
    (change the code)
    python scripts/output_hashes.py ../shared/data/dev_cases > after.json
    diff before.json after.json

Each entry is the first 16 hex digits of the SHA-256 of a pass's float32 pixels.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

import bgmatte
from bgmatte.host_bridge.arrays import ArrayFetcher
from bgmatte.plugin.node import Node

PASSES = ("alpha", "foreground", "rgba", "clean_plate", "difference", "segmentation", "error")


def digest(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels, np.float32).tobytes()).hexdigest()[:16]


def read(path: Path) -> np.ndarray:
    return np.asarray(oiio.ImageBuf(str(path)).get_pixels(oiio.FLOAT), np.float32)


def main(cases_root: str) -> dict[str, object]:
    out: dict[str, object] = {}
    cases = sorted(p for p in Path(cases_root).iterdir() if (p / "plate.exr").is_file())
    for case in cases:
        plate, clean = read(case / "plate.exr"), read(case / "clean_plate.exr")
        background = clean[::-1].copy()
        for name, params in (
            ("default", {}),
            ("classical", {"engine": "classical"}),
            ("exact", {"unmix": "exact"}),
        ):
            m = bgmatte.matte(plate, clean, None, background, **params)
            hashes = {p: digest(getattr(m, p)) for p in PASSES}
            hashes["composite"] = digest(m.composite)
            out[f"{case.name}/{name}"] = hashes
    plate, clean = (
        read(cases[0] / "plate.exr")[:256, :320],
        read(cases[0] / "clean_plate.exr")[:256, :320],
    )
    m = bgmatte.matte(plate, clean, colorspace="lin_rec709")
    out["colour/lin_rec709"] = {p: digest(getattr(m, p)) for p in PASSES}
    shot = {f: np.roll(plate, f, axis=1) for f in (1, 2, 3)}
    got = Node({"temporal_radius": 1}).render(
        2, ArrayFetcher(plate=shot, clean_plate=clean), passes=["alpha", "foreground", "rgba"]
    )
    out["temporal"] = {k: digest(v) for k, v in got.items()}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "bgmatte", "demo", "--out", tmp], check=True, capture_output=True
        )
        out["demo/matte.exr"] = digest(read(Path(tmp) / "matte.exr"))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bgmatte",
                "render",
                "--plate",
                str(cases[0] / "plate.exr"),
                "--clean-plate",
                str(cases[0] / "clean_plate.exr"),
                "--out",
                f"{tmp}/r.exr",
                "--pass",
                "all",
                "--float",
            ],
            check=True,
            capture_output=True,
        )
        out["render/all"] = digest(read(Path(tmp) / "r.exr"))
    return out


if __name__ == "__main__":
    print(
        json.dumps(
            main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/dev_cases"),
            indent=1,
            sort_keys=True,
        )
    )
