"""Fixtures for the command-line tests: small shots on disk, an in-process runner, helpers.

Every image is 64×48 so the whole host_bridge suite stays fast on two cores; paths are
absolute, so messages that quote a path can be checked exactly. The helpers reach the tests
through the ``kit`` fixture (``kit.clean_plate(...)``, ``kit.all_files(...)``); larger helper
modules (the OpenFX test host) are imported relatively, since ``tests`` is a package.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import OpenImageIO as oiio
import pytest

from bgmatte.host_bridge.cli import main
from bgmatte.host_bridge.imageio import write_exr

H, W = 48, 64


def clean_plate(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    """A textured background (smooth gradient plus fine texture), scene-linear float32."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([0.2 + 0.4 * x / w, 0.3 + 0.3 * y / h, 0.25 + 0.1 * (x + y) / (w + h)], -1)
    return (base + 0.05 * rng.random((h, w, 3))).astype(np.float32)


def subject_alpha(h: int = H, w: int = W, cx: float = 32.0, cy: float = 24.0) -> np.ndarray:
    """A soft disc of radius 10 (4 px soft edge) centred on (cx, cy)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot(x - cx, y - cy)
    return np.clip((12.0 - r) / 4.0, 0.0, 1.0).astype(np.float32)


def plate_over(clean: np.ndarray, alpha: np.ndarray, seed: int = 1) -> np.ndarray:
    """An HDR orange subject over ``clean`` with a little sensor noise."""
    rng = np.random.default_rng(seed)
    fg = np.array([3.0, 0.6, 0.1], np.float32)  # above 1.0 on purpose: HDR must survive
    a = alpha[..., None]
    noise = rng.normal(0.0, 0.003, clean.shape).astype(np.float32)
    return (a * fg + (1.0 - a) * clean + noise).astype(np.float32)


@dataclass(frozen=True)
class Shot:
    """A still shot on disk: ``plate`` and ``clean`` paths, and the arrays written there."""

    folder: Path
    plate: str
    clean: str
    plate_pixels: np.ndarray
    clean_pixels: np.ndarray
    alpha: np.ndarray

    def out(self, name: str = "matte.exr") -> str:
        """An output path in a separate ``out`` folder (so listings show only outputs)."""
        return str(self.folder / "out" / name)


Run = Callable[..., tuple[int, str, str]]


def all_files(folder: Path) -> set[str]:
    """Every file under ``folder``, relative, including hidden ones (temp files are hidden)."""
    return {
        os.path.relpath(os.path.join(root, name), folder)
        for root, _dirs, names in os.walk(folder)
        for name in names
    }


def temp_files(folder: Path) -> set[str]:
    """Leftover atomic-write temp files (``.name.XXXX.tmp.exr``) under ``folder``."""
    return {f for f in all_files(folder) if ".tmp." in os.path.basename(f)}


def exr_header(path: str) -> tuple[oiio.ImageSpec, np.ndarray]:
    """The spec and the pixels (H×W×C float32, channels in file order) of ``path``."""
    inp = oiio.ImageInput.open(path)
    assert inp is not None, oiio.geterror()
    try:
        spec = inp.spec()
        pixels = inp.read_image(0, 0, 0, spec.nchannels, oiio.FLOAT)
        assert pixels is not None, inp.geterror()
    finally:
        inp.close()
    return spec, np.asarray(pixels, np.float32).reshape(spec.height, spec.width, spec.nchannels)


def channels(spec: oiio.ImageSpec, pixels: np.ndarray, *names: str) -> np.ndarray:
    """The named channels of ``pixels`` stacked in the order asked (H×W×len(names))."""
    index = list(spec.channelnames)
    return np.stack([pixels[..., index.index(n)] for n in names], axis=-1)


@pytest.fixture(autouse=True)
def _builtin_ocio(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Use the built-in ACES config whatever $OCIO says on the machine running the tests."""
    monkeypatch.delenv("OCIO", raising=False)
    yield


@pytest.fixture
def shot(tmp_path: Path) -> Shot:
    """plate.exr and clean.exr, 64×48, half float, in ``tmp_path``."""
    clean = clean_plate()
    alpha = subject_alpha()
    plate = plate_over(clean, alpha)
    write_exr(str(tmp_path / "plate.exr"), [("", plate)])
    write_exr(str(tmp_path / "clean.exr"), [("", clean)])
    return Shot(
        tmp_path, str(tmp_path / "plate.exr"), str(tmp_path / "clean.exr"), plate, clean, alpha
    )


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    """``cli("render", "--plate", ...)`` → (exit status, stdout, stderr), run in process.

    ``render`` gets ``--quiet`` so stderr holds only what the command line itself says, and
    ``--engine classical`` unless the test names an engine.
    """

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()  # drop anything printed before
        args = list(argv)
        if args and args[0] == "render":
            args.insert(1, "--quiet")
            if "--engine" not in args:  # these tests are about the host, not the engine:
                args[2:2] = ["--engine", "classical"]  # the fast, deterministic one
        rc = main(args)
        got = capsys.readouterr()
        return rc, got.out, got.err

    return run


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for the test modules (see the module docstring)."""
    return SimpleNamespace(
        clean_plate=clean_plate,
        subject_alpha=subject_alpha,
        plate_over=plate_over,
        all_files=all_files,
        temp_files=temp_files,
        exr_header=exr_header,
        channels=channels,
    )
