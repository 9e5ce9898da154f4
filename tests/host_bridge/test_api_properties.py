"""Properties of ``bgmatte.matte`` on any array a caller can hand it (Hypothesis).

Whatever the arrays (shapes from 1×1, float16/32/64, integer and boolean arrays, NaN and
Inf anywhere, magnitudes from 1e-45 to past the 1e12 limit, negative and constant images,
mismatched sizes, wrong channel counts) and whatever the params (every one in
:data:`bgmatte.plugin.params.PARAMS`, drawn from its choices and range or just outside it, of
the wrong type, or unknown), the call either

* returns a :class:`bgmatte.Matte` whose alpha is finite and in [0, 1], and whose foreground,
  premultiplied RGBA and composite are finite, all at the plate's size; or
* raises :class:`bgmatte.BgmatteError` with a one-line message, which is not the node's own
  "this is a fault of bgmatte" (a non-finite result caught on its way out).

Nothing else: no other exception, and no warning except bgmatte's own (alignment, colour
space); a NumPy RuntimeWarning fails the example.

Most examples use the classical engine (milliseconds each); one property runs the network on
a few. The runs are derandomised, so CI sees the same examples every time; for a longer,
random search set ``BGMATTE_FUZZ_EXAMPLES``, e.g.
``BGMATTE_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/host_bridge/test_api_properties.py``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import bgmatte
from bgmatte.errors import BgmatteError, BgmatteWarning
from bgmatte.plugin.params import PARAMS

from .exr_fuzz import shot_pixels

LONG = int(os.environ.get("BGMATTE_FUZZ_EXAMPLES", "0") or 0)
FAULT = "this is a fault of bgmatte"
FLOATS = (np.float16, np.float32, np.float64)
SPECIAL = (np.nan, np.inf, -np.inf)


def _settings(examples: int) -> Any:
    return settings(
        max_examples=LONG or examples,
        deadline=None,
        derandomize=not LONG,
        database=None,  # nothing written into the working tree
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ---- strategies ------------------------------------------------------------------------------
def _rarely(draw: st.DrawFn, one_in: int) -> bool:
    return draw(st.integers(0, one_in - 1)) == 0


@st.composite
def pixels(draw: st.DrawFn, h: int, w: int, role: str, faults: bool = True) -> np.ndarray:
    """One image: the textured shot (plate or clean plate), noise or a constant; scaled,
    shifted and cast; now and then holding NaN or Inf, and with ``faults`` of a wrong shape
    or type."""
    kind = draw(st.sampled_from(("shot", "shot", "shot", "noise", "constant")))
    seed = draw(st.integers(0, 3))
    if kind == "shot":
        base = shot_pixels(h, w, seed)[0 if role == "plate" else 1].astype(np.float64)
    elif kind == "noise":
        base = np.random.default_rng(seed).normal(0.0, 1.0, (h, w, 3))
    else:
        base = np.full((h, w, 3), draw(st.floats(-2.0, 2.0)))
    scale = draw(
        st.one_of(
            st.just(1.0),
            st.integers(-45, 13).map(lambda e: 10.0**e),
            st.floats(1e-45, 2e12),  # the limit's edges: 1e12 and 1e12 - ulp
        )
    )
    sign = -1.0 if _rarely(draw, 5) else 1.0
    offset = draw(st.sampled_from((0.0, 0.0, 0.0, -0.5, -1.0, 1.0)))
    values = sign * base * scale + offset
    channels = draw(st.sampled_from((1, 2, 5, 0))) if faults and _rarely(draw, 12) else 3
    channels = 4 if channels == 3 and draw(st.booleans()) else channels
    if channels == 0:  # an H×W array
        values = values[..., 0]
    elif channels == 4:
        values = np.concatenate([values, np.ones((h, w, 1))], axis=2)
    elif channels != 3:
        values = np.resize(values, (h, w, channels))
    for _ in range(draw(st.integers(1, 3)) if _rarely(draw, 6) else 0):
        at = tuple(draw(st.integers(0, n - 1)) for n in values.shape)
        values[at] = draw(st.sampled_from(SPECIAL))
    if faults and _rarely(draw, 16):
        integer = draw(st.sampled_from((np.int32, np.uint8, np.bool_)))
        return np.nan_to_num(values, posinf=0, neginf=0).clip(0, 255).astype(integer)
    dtype = draw(st.sampled_from(FLOATS))
    with np.errstate(over="ignore"):  # float16 overflows to Inf: so be it
        return values.astype(dtype)


def _valid(p: Any) -> st.SearchStrategy[Any]:
    if p.type == "choice":
        return st.sampled_from(p.choices)
    if p.type == "bool":
        return st.booleans()
    if p.type == "int":
        return st.integers(int(p.range[0]), int(p.range[1]))
    if p.type == "float":
        return st.floats(p.range[0], p.range[1])
    if p.name == "weights":  # empty: the shipped model
        return st.just("")
    if p.name == "colorspace":
        return st.sampled_from(
            ("auto", "scene_linear", "ACEScg", "sRGB - Texture", "Linear Rec.709 (sRGB)")
        )
    return st.just(p.default)


def _invalid(p: Any) -> st.SearchStrategy[Any]:
    wrong = st.sampled_from((None, [1], "", "nonsense", float("nan"), 1e300, -1))
    if p.range is not None:
        lo, hi = p.range
        # inf and -inf for an int param raised OverflowError until d91ff5b (found here)
        outside = [lo - 1, hi + 1, hi * 10 + 1, float("inf"), float("-inf")]
        return st.one_of(
            st.sampled_from(outside), wrong, st.just(1.5) if p.type == "int" else wrong
        )
    if p.type == "string":
        return st.sampled_from(("", "nonsense", "srgb ", "\udcff", 7))
    if p.type == "path":
        return st.sampled_from(("/no/such/weights.safetensors", "\udcff", 7, None))
    return wrong


@st.composite
def params(draw: st.DrawFn, network: bool = False) -> dict[str, Any]:
    """A few params, mostly valid; now and then one invalid, or one the node does not know.
    (The classical engine ignores the network's params, but they are still checked.)"""
    out: dict[str, Any] = {}
    for p in PARAMS:
        if p.name == "engine" or draw(st.integers(0, 3)) != 0:
            continue
        out[p.name] = draw(_invalid(p) if _rarely(draw, 60 if network else 25) else _valid(p))
    if network:
        out["engine"] = "network"
        out["ensemble"] = "off"  # four networks an example: too slow for CI
        out["runtime"] = "torch"  # onnxruntime exports the network first: slower still
    else:
        out["engine"] = "bogus" if _rarely(draw, 30) else "classical"
    if not network and _rarely(draw, 30):
        out["no_such_param"] = 1
    return out


@st.composite
def calls(draw: st.DrawFn, network: bool = False, most: int = 20) -> dict[str, Any]:
    """The arguments of one ``bgmatte.matte`` call (for the network, fewer faults that the
    checks before any engine turn away)."""
    faults = not network
    h, w = draw(st.integers(1, most)), draw(st.integers(1, most))
    size = (h, w)
    if faults and _rarely(draw, 20):  # a clean plate of another size
        size = (draw(st.integers(1, most)), draw(st.integers(1, most)))
    args: dict[str, Any] = {
        "plate": draw(pixels(h, w, "plate", faults)),
        "clean_plate": draw(pixels(*size, "clean", faults)),
        **draw(params(network)),
    }
    if _rarely(draw, 5):
        args["segmentation"] = draw(pixels(h, w, "clean", faults))[..., :1]
    if _rarely(draw, 5):
        args["background"] = draw(pixels(h, w, "clean", faults))
    if network or _rarely(draw, 3):  # NaN and Inf replaced rather than refused
        args["nan"] = "zero"
    if faults and _rarely(draw, 10):
        args["colorspace"] = draw(st.sampled_from(("ACEScg", "sRGB - Texture", "nonsense", "")))
    if faults and _rarely(draw, 30):
        args["device"] = draw(st.sampled_from(("cuda", "tpu", "")))
    return args


# ---- the property ----------------------------------------------------------------------------
def _finite(name: str, a: np.ndarray | None, shape: tuple[int, ...]) -> None:
    assert a is not None, name
    assert a.shape[: len(shape)] == shape, (name, a.shape, shape)
    assert np.isfinite(a).all(), f"{name} has {int((~np.isfinite(a)).sum())} non-finite values"


def matte_or_error(args: dict[str, Any]) -> str:
    """Call ``bgmatte.matte(**args)`` and check the property; "matte" or "error"."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            got = bgmatte.matte(**args)
        except BgmatteError as err:
            message = str(err)
            assert "\n" not in message and FAULT not in message, message
            outcome = "error"
        else:
            h, w = np.asarray(args["plate"]).shape[:2]
            _finite("alpha", got.alpha, (h, w))
            assert got.alpha.min() >= 0.0 and got.alpha.max() <= 1.0
            _finite("foreground", got.foreground, (h, w, 3))
            _finite("rgba", got.rgba, (h, w, 4))
            if "background" in args:
                _finite("composite", got.composite, (h, w, 3))
            outcome = "matte"
    others = [w for w in caught if not issubclass(w.category, BgmatteWarning)]
    said = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in others]
    assert not others, said
    return outcome


@_settings(1500)
@given(calls())
def test_classical_matte_or_one_line_error(args: dict[str, Any]) -> None:
    event(matte_or_error(args))  # --hypothesis-show-statistics counts mattes and errors


@_settings(60)
@given(calls(network=True, most=16))
def test_network_matte_or_one_line_error(args: dict[str, Any]) -> None:
    event(matte_or_error(args))


# ---- what the strategies reach ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("plate", "expected"),
    [
        (shot_pixels(8, 8)[0], "matte"),
        (shot_pixels(8, 8)[0] * 1e12, "error"),  # the magnitude limit
        (-shot_pixels(8, 8)[0], "matte"),  # an all-negative frame
        ((shot_pixels(8, 8)[0] * 255).astype(np.uint8), "error"),  # integers are refused
        (shot_pixels(8, 8)[0].astype(np.float16), "matte"),
        (np.zeros((8, 8, 3), np.float64), "matte"),
        (shot_pixels(1, 1)[0], "matte"),
    ],
    ids=["plain", "1e12", "negative", "uint8", "float16", "black", "1x1"],
)
def test_corners_the_strategies_reach(plate: np.ndarray, expected: str) -> None:
    clean = shot_pixels(*plate.shape[:2])[1]
    assert matte_or_error({"plate": plate, "clean_plate": clean, "engine": "classical"}) == expected
