"""One frame in three stages: check the inputs, key them, solve the foreground.

- :func:`check`: the inputs in the working space, validated (sizes, channels, NaN policy);
- :func:`key`: the clean plate aligned to the plate (hand-held shots), then the engine's
  alpha and debug passes (:mod:`bgmatte.plugin.engines`);
- :func:`finish`: the linear-light foreground for an alpha (:mod:`.foreground`) and the
  composite, once per output frame.

The node (:mod:`bgmatte.plugin.node`) calls them, caching :func:`key`'s result per frame, so
a temporal window filters the keyed alphas of its frames and unmixes only the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bgmatte import kernels
from bgmatte.plugin import foreground, light, shadow, validate
from bgmatte.plugin.align import align
from bgmatte.plugin.bands import CHUNK, in_bands
from bgmatte.plugin.edges import solve_edges
from bgmatte.plugin.engines import Deferred, EngineResult, get_engine
from bgmatte.plugin.exposure import matched_clean_plate
from bgmatte.plugin.passes import Matte
from bgmatte.plugin.shadow import Relight
from bgmatte.plugin.timing import stage

Progress = Callable[[float], None]


@dataclass(frozen=True)
class Inputs:
    """One frame's inputs as checked: H×W×3 (segmentation H×W) float32, working space."""

    plate: np.ndarray
    clean_plate: np.ndarray
    segmentation: np.ndarray | None
    background: np.ndarray | None


@dataclass(frozen=True)
class Keyed:
    """A frame after the engine: its checked inputs, the subject's cast shadow on the set,
    and the engine's result (alpha, the clean plate as used, debug passes), before the
    foreground is solved; ``light``: the light the subject adds to the set (H×W×3, before the
    subject covers it; None: none). ``relight_problem``: why the shadow and light passes
    could not be solved ('' when they were, or when ``separate_shadows`` is off)."""

    inputs: Inputs
    result: EngineResult
    relight: Relight
    relight_problem: str = ""
    light: np.ndarray | None = None


def check(
    plate: np.ndarray,
    clean_plate: np.ndarray,
    segmentation: np.ndarray | None,
    background: np.ndarray | None,
    policy: str,
) -> Inputs:
    """The inputs as the engines take them, or a :class:`BgmatteError` naming the bad one;
    ``policy`` is the ``nan`` param."""
    with stage("validate"):
        return _check(plate, clean_plate, segmentation, background, policy)


def _check(
    plate: np.ndarray,
    clean_plate: np.ndarray,
    segmentation: np.ndarray | None,
    background: np.ndarray | None,
    policy: str,
) -> Inputs:
    p = validate.finite_in_range(validate.as_rgb(plate, "plate"), "plate", policy)
    c = validate.as_rgb(clean_plate, "clean_plate")
    validate.same_size(c, p, "clean_plate")
    c = validate.finite_in_range(c, "clean_plate", policy)
    seg = None
    if segmentation is not None:
        seg = validate.as_matte(segmentation, "segmentation")
        validate.same_size(seg, p, "segmentation")
        seg = validate.finite(seg, "segmentation", policy)
    bg = None
    if background is not None:
        bg = validate.as_rgb(background, "background")
        validate.same_size(bg, p, "background")
        bg = validate.finite_in_range(bg, "background", policy)
    return Inputs(p, c, seg, bg)


def key(
    inputs: Inputs,
    params: Mapping[str, Any],
    device: str = "cpu",
    progress: Progress | None = None,
    where: str = "",
) -> Keyed:
    """Align the clean plate to the plate, then run the engine and solve its fractional edge
    again against the clean plate it keyed against (:mod:`.edges`). ``progress`` is called with
    the fraction of the frame done (hosts may raise :class:`RenderAborted` from it);
    ``where`` names the frame in warnings ("frame N, plate <file>")."""

    def done(fraction: float) -> None:
        if progress is not None:
            progress(fraction)

    # Hand-held: the clean plate is aligned to this frame before the engine, so both engines
    # (and their exposure match) see aligned pixels.
    done(0.05)
    with stage("align"):
        aligned = align(inputs.plate, inputs.clean_plate, params["align"], where)
    clean = aligned.clean_plate
    done(0.15)
    relit, problem, added = Relight(), "", None
    matched = clean
    if params["separate_shadows"] and aligned.report.status == "failed":
        problem = "the clean plate could not be aligned to the plate"
    elif params["separate_shadows"]:
        # The shadow is measured against the exposure-matched clean plate; the engine then
        # keys against it with the shadow on (and matches no exposure again).
        matched = matched_clean_plate(inputs.plate, clean, params["match_exposure"])
        with stage("shadow"):
            relit = shadow.relight(inputs.plate, matched)
            clean = relit.apply(matched)
        params = {**params, "match_exposure": False}
    engine = get_engine(params["engine"])

    def keyed_against(clean_plate: np.ndarray) -> EngineResult:
        """The engine's result, its fractional edge solved again against the clean plate it
        keyed against (:mod:`.edges`)."""
        with stage("engine"):
            got = engine(inputs.plate, clean_plate, inputs.segmentation, params, device)
        with stage("edges"):
            passes = params["edge_passes"]
            if kernels.gpu_index(device) is None:
                alpha = solve_edges(inputs.plate, got.clean_plate, got.alpha, passes)
            else:  # on the GPU the network ran on (its torch twin, over the whole frame)
                from bgmatte.plugin import edges_torch  # torch: imported for a GPU only
                from bgmatte.plugin.engines.network import torch_device

                alpha = edges_torch.solve_edges_on(
                    torch_device(device), inputs.plate, got.clean_plate, got.alpha, passes
                )
        return replace(got, alpha=alpha)

    result = keyed_against(clean)
    if params["separate_shadows"] and not problem:
        # Light on the set is told from a bright subject by the set the matte left uncovered
        # (:mod:`.light`): where the subject adds some, the shadow is solved again under it
        # and the frame keyed again against the set as lit, so a glow is background too; each
        # keying uncovers more of the set, so the light is measured again from its matte, up
        # to ``light_keyings`` times. The passes and the foreground take the light measured
        # from the last matte.
        rounds = int(params["light_keyings"])
        for n in range(rounds + 1):
            with stage("light"):
                found = light.light_field(inputs.plate, matched, result.alpha)
                if found is None:
                    break
                added = found
                relit = shadow.relight(np.maximum(inputs.plate - added, 0.0), matched)
                clean = relit.apply(matched) + added
            if n == rounds:
                result = replace(result, clean_plate=clean)
                break
            done(0.5 + 0.4 * n / rounds)
            result = keyed_against(clean)
    done(0.9)
    return Keyed(inputs, result, relit, problem, added)


def unmix(
    plate: np.ndarray,
    clean_plate: np.ndarray,
    alpha: np.ndarray,
    background: np.ndarray | None,
    device: str = "cpu",
    mode: str = "regularised",
) -> tuple[np.ndarray, np.ndarray | None]:
    """The linear-light foreground for ``alpha`` (``mode``: see :mod:`.foreground`), and its
    composite over ``background`` (None without one), on ``device`` (CuPy kernels on a GPU)."""
    k = kernels.for_device(device)
    if k is not kernels.numpy_kernels:  # pragma: no cover - needs a GPU
        return _unmix_on_gpu(k, device, plate, clean_plate, alpha, background, mode)
    if mode == "exact":
        fg = k.unmix_foreground(plate, clean_plate, alpha)
    else:
        prior, weight = foreground.prior_and_weight(plate, clean_plate, alpha)
        # Per pixel, in row bands on every thread, written over the prior, which each chunk
        # reads only in its own rows: one frame-sized buffer fewer at the unmix's peak, and a
        # chunk's temporaries at a time, not a band's.
        fg = prior

        def rows(band: slice) -> None:
            fg[band] = k.regularised_unmix(
                plate[band], clean_plate[band], alpha[band], prior[band], weight[band]
            )

        in_bands(rows, plate.shape[0], CHUNK)
    comp = None if background is None else k.composite(fg, alpha, background)
    return fg, comp


def _unmix_on_gpu(  # pragma: no cover - needs a GPU
    k: Any,
    device: str,
    plate: np.ndarray,
    clean_plate: np.ndarray,
    alpha: np.ndarray,
    background: np.ndarray | None,
    mode: str,
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`unmix` on a GPU: the frames up once (torch), the regularised prior's pull-push
    there (:mod:`.foreground_torch`), CuPy's kernels on the same memory, the results down."""
    import cupy
    import torch

    from bgmatte.plugin import foreground_torch, uploads
    from bgmatte.plugin.engines.network import torch_device

    dev = torch_device(device)
    p, c, a = (uploads.to_device(f, dev) for f in (plate, clean_plate, alpha))
    with cupy.cuda.Device(dev.index), torch.inference_mode():
        if mode == "exact":
            fg = k.unmix_foreground(p, c, a)
        else:
            prior, weight = foreground_torch.prior_and_weight(
                p.permute(2, 0, 1), c.permute(2, 0, 1), a
            )
            fg = k.regularised_unmix(p, c, a, prior.permute(1, 2, 0).contiguous(), weight)
        comp = None if background is None else cupy.asnumpy(k.composite(fg, a, background))
        return cupy.asnumpy(fg), comp


def relit_composite(
    composite: np.ndarray,
    alpha: np.ndarray,
    background: np.ndarray,
    shadow: np.ndarray | None,
    light: np.ndarray | None,
    shadow_amount: float,
    light_amount: float,
) -> np.ndarray:
    """The composite with the subject's shadow laid on the new background and its light
    added: ``α·F + (1-α)·B·lerp(1, shadow, shadow_amount) + light_amount·light``, from the
    plain ``composite`` = α·F + (1-α)·B (``light`` is what the plate shows: already (1-α)·L;
    None: no shadow, no light)."""
    out = composite
    if shadow is not None and shadow_amount > 0.0:
        darken = (1.0 - alpha) * shadow_amount * (shadow - 1.0)
        out = out + darken[..., None] * background
    if light is not None and light_amount > 0.0:
        out = out + light_amount * light
    return np.asarray(out, np.float32)


def finish(
    keyed: Keyed, alpha: np.ndarray, params: Mapping[str, Any], device: str = "cpu"
) -> Matte:
    """The frame's result for ``alpha`` (the engine's, or the temporal window's): the
    foreground solved against the clean plate as the engine used it, and the composite."""
    inputs, result = keyed.inputs, keyed.result
    with stage("unmix"):
        fg, comp = unmix(
            inputs.plate, result.clean_plate, alpha, inputs.background, device, params["unmix"]
        )
    # The shadow and light passes are made when a host asks for them (or for the composite).
    shadow_y = Deferred(lambda: keyed.relight.shadow_y)
    separate = params["separate_shadows"] and not keyed.relight_problem
    added = keyed.light
    light_pass = Deferred(
        lambda: (
            (added * (1.0 - alpha)[..., None]).astype(np.float32)  # as the plate shows it
            if separate and added is not None
            else None
        )
    )
    if comp is not None and inputs.background is not None:
        with stage("passes"):
            comp = relit_composite(
                comp,
                alpha,
                inputs.background,
                shadow_y.get(),
                light_pass.get(),
                float(params["shadow_amount"]),
                float(params["light_amount"]),
            )
    validate.finite_result(alpha, "matte")
    validate.finite_result(fg, "foreground")
    if comp is not None:
        validate.finite_result(comp, "composite")
    return Matte(
        alpha=alpha,
        foreground=fg,
        clean_plate=result.clean_plate,
        debug={
            "difference": result.difference,
            "segmentation": result.segmentation,
            "error": result.error,
        },
        composite=comp,
        shadow_pass=shadow_y,
        light_pass=light_pass,
        relight_problem=keyed.relight_problem,
        params=dict(params),
    )
