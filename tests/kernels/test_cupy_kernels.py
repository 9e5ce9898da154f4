"""CuPy twins against the NumPy bodies, and the device switch.

The GPU tests are marked ``gpu`` and skip visibly (with the reason) where CuPy or a CUDA
device is missing. The tests at the top run everywhere: they check that the CuPy module
imports without CuPy and that asking for a GPU without one gives the project's error.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import bgmatte.kernels as kernels
from bgmatte.errors import BgmatteError
from bgmatte.kernels import numpy_kernels as nk

FIX = "install bgmatte[gpu] on a machine with an NVIDIA GPU, or set device to 'cpu'"

# ---------------------------------------------------------------- CPU-only


@pytest.fixture
def no_cupy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import cupy`` fail, as on a machine without it."""
    monkeypatch.setitem(sys.modules, "cupy", None)


def test_cupy_module_imports_without_cupy(no_cupy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "bgmatte.kernels.cupy_kernels", raising=False)
    mod = importlib.import_module("bgmatte.kernels.cupy_kernels")
    assert sorted(mod.__all__) == sorted(nk.__all__)
    for name in nk.__all__:  # same names, same parameters and defaults
        twin, body = inspect.signature(getattr(mod, name)), inspect.signature(getattr(nk, name))
        assert [(p.name, p.default) for p in twin.parameters.values()] == [
            (p.name, p.default) for p in body.parameters.values()
        ], name


def test_for_device_cuda_without_cupy_raises_exact_message(no_cupy: None) -> None:
    assert not kernels.cupy_available()
    for device in ("cuda", "cuda:0", "gpu"):
        with pytest.raises(BgmatteError) as info:
            kernels.for_device(device)
        assert str(info.value) == (
            "device: CuPy with a CUDA GPU is not available (cannot import cupy: import of cupy "
            "halted; None in sys.modules); " + FIX
        )
        assert info.value.input_name == "device"
        assert info.value.fix == FIX


def test_for_device_without_a_gpu_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "_cupy_problem", lambda index=None: "no CUDA device found")
    with pytest.raises(BgmatteError) as info:
        kernels.for_device("cuda")
    assert str(info.value) == (
        "device: CuPy with a CUDA GPU is not available (no CUDA device found); " + FIX
    )


def test_for_device_cpu_and_unknown() -> None:
    assert kernels.for_device("cpu") is nk
    assert kernels.for_device(" CPU ") is nk
    with pytest.raises(BgmatteError, match=r"^device: unknown device 'tpu'; use 'cpu'"):
        kernels.for_device("tpu")
    with pytest.raises(BgmatteError, match=r"^device: unknown device"):
        kernels.for_device("cuda:x")


def test_package_reexports_numpy_bodies() -> None:
    for name in nk.__all__:
        assert getattr(kernels, name) is getattr(nk, name)


# ---------------------------------------------------------------- GPU

HAVE_GPU = kernels.cupy_available()
gpu = pytest.mark.gpu
needs_gpu = pytest.mark.skipif(
    not HAVE_GPU,
    reason=f"needs CuPy and a CUDA GPU ({kernels._cupy_problem() or 'unknown'})",
)

H, W = 67, 131  # odd sizes: no accidental alignment


def _data(seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def img(c: int = 3) -> np.ndarray:
        return rng.uniform(-0.5, 6.0, (H, W, c)).astype(np.float32)

    a = rng.uniform(0, 1, (H, W)).astype(np.float32)
    a.flat[:8] = [0.0, 1.0, 1e-7, 1e-6, 1e-3, 2e-3, 0.5, 1e-5]
    clean = img()
    offset = rng.uniform(0.1, 1.0, clean.shape) * rng.choice([-1, 1], clean.shape)  # |F-B| >= 0.1
    fg = clean + offset
    return {
        "plate": img(),
        "clean": clean,
        "fg": fg.astype(np.float32),
        "alpha": a,
        "rgba": np.concatenate([img(), a[..., None]], axis=-1),
        "x": rng.uniform(-2, 5, (H, W)).astype(np.float32),
        "diff": rng.normal(0, 0.2, (H, W, 3)).astype(np.float32),
    }


# name -> (call with a kernel module and the data, rtol, atol)
CASES: dict[str, tuple[Callable[[Any, dict[str, Any]], Any], float, float]] = {
    "premultiply": (lambda k, d: k.premultiply(d["fg"], d["alpha"]), 1e-5, 0),
    "unpremultiply": (lambda k, d: k.unpremultiply(d["rgba"]), 1e-5, 0),
    "over": (lambda k, d: k.over(d["rgba"], d["clean"]), 1e-5, 1e-6),
    "composite": (lambda k, d: k.composite(d["fg"], d["alpha"], d["clean"]), 1e-5, 1e-6),
}


def _to_device(d: dict[str, np.ndarray]) -> dict[str, Any]:
    import cupy

    return {key: cupy.asarray(value) for key, value in d.items()}


@gpu
@needs_gpu
@pytest.mark.parametrize("name", sorted(CASES))
def test_twin_matches_numpy(name: str) -> None:
    import cupy

    from bgmatte.kernels import cupy_kernels as ck

    call, rtol, atol = CASES[name]
    d = _data()
    expected = call(nk, d)
    got = call(ck, _to_device(d))
    assert isinstance(got, cupy.ndarray) and got.dtype == cupy.float32
    assert got.shape == expected.shape
    np.testing.assert_allclose(cupy.asnumpy(got), expected, rtol=rtol, atol=atol)


@gpu
@needs_gpu
def test_unmix_twin_matches_numpy() -> None:
    """Separate tolerance: rounding of P - (1 - a) B is amplified by 1/a (FMA on the GPU)."""
    import cupy

    from bgmatte.kernels import cupy_kernels as ck

    d = _data()
    expected = nk.unmix_foreground(d["plate"], d["clean"], d["alpha"])
    g = _to_device(d)
    got = cupy.asnumpy(ck.unmix_foreground(g["plate"], g["clean"], g["alpha"]))
    a = np.maximum(d["alpha"], 1e-3)[..., None]
    atol = 1e-6 * (np.abs(d["plate"]) + np.abs(d["clean"])) / a
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.all(np.abs(got - expected) <= 1e-5 * np.abs(expected) + atol)
    np.testing.assert_array_equal(got == 0, expected == 0)  # same eps branch everywhere


@gpu
@needs_gpu
def test_regularised_unmix_twin_matches_numpy() -> None:
    import cupy

    from bgmatte.kernels import cupy_kernels as ck

    d = _data()
    prior = d["clean"][::-1].copy()
    weight = np.linspace(0.0, 1.0, d["alpha"].size, dtype=np.float32).reshape(d["alpha"].shape)
    expected = nk.regularised_unmix(d["plate"], d["clean"], d["alpha"], prior, weight)
    g = _to_device(d)
    got = cupy.asnumpy(
        ck.regularised_unmix(
            g["plate"], g["clean"], g["alpha"], cupy.asarray(prior), cupy.asarray(weight)
        )
    )
    assert got.dtype == np.float32 and got.shape == expected.shape
    den = np.maximum(d["alpha"] ** 2 + weight, 1e-3)[..., None]
    atol = 1e-6 * (np.abs(d["plate"]) + np.abs(d["clean"]) + np.abs(prior)) / den
    assert np.all(np.abs(got - expected) <= 1e-5 * np.abs(expected) + atol)


@gpu
@needs_gpu
def test_twins_round_trip_and_keep_hdr() -> None:
    import cupy

    from bgmatte.kernels import cupy_kernels as ck

    d = _to_device(_data())
    fg = ck.unmix_foreground(d["plate"], d["clean"], d["alpha"])
    again = ck.composite(fg, d["alpha"], d["clean"])
    keep = d["alpha"] > np.float32(1e-3)
    scale = cupy.maximum(cupy.abs(d["plate"]), cupy.abs(d["clean"]))[keep]
    assert bool(cupy.all(cupy.abs(again[keep] - d["plate"][keep]) <= 1e-5 * scale + 1e-7))
    assert float(fg.max()) > 1 and float(fg.min()) < 0


@gpu
@needs_gpu
def test_twins_accept_views_float64_and_torch_tensors() -> None:
    import cupy
    import torch

    from bgmatte.kernels import cupy_kernels as ck

    d = _data()
    want = nk.unmix_foreground(d["plate"], d["clean"], d["alpha"])
    plate_t = cupy.asarray(d["plate"].transpose(1, 0, 2).copy()).transpose(1, 0, 2)  # strided
    assert not plate_t.flags.c_contiguous
    got = ck.unmix_foreground(plate_t, cupy.asarray(d["clean"], dtype=cupy.float64), d["alpha"])
    np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=1e-5, atol=1e-6)
    # the GPU unmix hands torch's tensors to the kernels as they are (CUDA array interface)
    on = [torch.from_numpy(d[k]).cuda() for k in ("plate", "clean", "alpha")]
    got = ck.unmix_foreground(*on)
    np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=1e-5, atol=1e-6)


@gpu
@needs_gpu
def test_kernels_are_memoized_and_errors_shared() -> None:
    from bgmatte.kernels import cupy_kernels as ck

    assert kernels.for_device("cuda") is ck
    assert kernels.for_device("cuda:0") is ck
    assert ck._unmix_kernel() is ck._unmix_kernel()
    d = _to_device(_data())
    with pytest.raises(BgmatteError) as on_gpu:
        ck.unmix_foreground(d["plate"], d["clean"], d["alpha"][:, :-1])
    with pytest.raises(BgmatteError) as on_cpu:
        nk.unmix_foreground(*(np.zeros((H, W, 3)),) * 2, np.zeros((H, W - 1)))
    assert str(on_gpu.value) == str(on_cpu.value)
    with pytest.raises(BgmatteError, match=r"^device: CuPy with a CUDA GPU is not available"):
        kernels.for_device("cuda:99")
