"""``bgmatte bench quality``, ``bgmatte bench speed`` and ``bgmatte bench align``: commands
that print figures.

quality: per case and mean, SAD / MSE / gradient / connectivity errors (Rhemann et al. 2009,
:mod:`bgmatte.bench.metrics`) of each engine on case folders in the shared benchmark format
(plate.exr, clean_plate.exr, alpha_gt.exr).

speed: the whole ``bgmatte.matte`` call (linear float32 arrays in, alpha and foreground
out) on synthetic scene-linear HD and 4K frames; median seconds per frame over N frames
after warm-up, torch threads set explicitly, and the peak resident memory of a child
process per resolution (so one size's memory does not hide another's).

align: N generated hand-held shots (:mod:`bgmatte.bench.scenes.shake`, seeded) with a known
camera shake; per shot the true shake, the alignment's median residual against the true
homography over the visible background, and the matte SAD with the shake (align auto)
against the same shot without shake (and with align off, for scale); then the mean.

temporal: generated moving-subject shots (:mod:`bgmatte.bench.scenes.moving`, seeded) rendered
through the node with each frame alone (temporal_radius 0) and with the temporal window;
per setting the flicker (dtSSD, :func:`bgmatte.bench.metrics.dtssd`) and the mean SAD over
the frames, and the ratio of the flickers; per speed the steady floor (:func:`steady_floor`):
the dtSSD a matte with the per-frame errors and no flicker at all would score.

parallax: generated hand-held shots (:func:`bgmatte.bench.scenes.shake.make_parallax_shot`) whose
near layer moves further than the far background, so alignment leaves it misregistered by
the parallax; per engine and parallax, the mean alpha on the true background (all of it, and
the near layer's part) and on the solid subject.

adapt: a generated moving shot with a look the training data never has (``--look neon``, a
magenta-lit subject on a dim teal scene, or ``--look backlit``, against a bright window),
matted with the shipped model (default settings), then ``bgmatte adapt`` on its own frames,
then matted again with the adapted weights: SAD per frame before and after, the teacher's SAD
for scale, and the adaptation's wall time.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from bgmatte.bench.scenes.moving import MovingShot

SIZES = {"HD": (1080, 1920), "4K": (2160, 3840)}


def find_cases(roots: Sequence[str]) -> list[Path]:
    """Case folders (holding plate.exr) under each root, up to three levels deep."""
    found: list[Path] = []
    for root in roots:
        base = Path(root)
        for depth in ("", "*", "*/*", "*/*/*"):
            found += [p.parent for p in sorted(base.glob(f"{depth}/plate.exr".lstrip("/")))]
    return sorted(dict.fromkeys(found))


def quality(
    roots: Sequence[str],
    engines: Sequence[str],
    extra: dict[str, object],
    sheets: str | None = None,
    by_alpha: bool = False,
) -> list[dict]:
    """Score each engine on each case; prints a markdown table; returns the rows. ``sheets``:
    also write a contact sheet of every stage per case and engine into that folder.
    ``by_alpha``: also print where each SAD comes from, by bins of the true alpha (rows get
    ``by_alpha``: [lo, hi, fraction, over, under] per bin)."""
    import bgmatte
    from bgmatte.bench import metrics
    from bgmatte.errors import BgmatteError
    from bgmatte.host_bridge.imageio import read_image

    cases = find_cases(roots)
    if not cases:
        raise BgmatteError(
            "bench",
            f"no case folders under {', '.join(roots)}",
            "pass folders that hold plate.exr, clean_plate.exr and alpha_gt.exr",
        )
    rows = []
    print("| case | engine | SAD | MSE×1e3 | Grad | Conn | FG MSE×1e3 | s/frame |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        plate = read_image(str(case / "plate.exr"), "plate").pixels[..., :3]
        clean = read_image(str(case / "clean_plate.exr"), "clean_plate").pixels[..., :3]
        true = read_image(str(case / "alpha_gt.exr"), "alpha_gt").pixels[..., -1]
        fg_file = case / "fg_gt.exr"
        fg_true = read_image(str(fg_file), "fg_gt").pixels[..., :3] if fg_file.is_file() else None
        for engine in engines:
            t0 = time.perf_counter()
            got = bgmatte.matte(plate, clean, engine=engine, **extra)
            seconds = time.perf_counter() - t0
            row = {
                "case": case.name,
                "engine": engine,
                "sad": metrics.sad(got.alpha, true),
                "mse": metrics.mse(got.alpha, true),
                "grad": metrics.gradient_error(got.alpha, true),
                "conn": metrics.connectivity_error(got.alpha, true),
                "fg_mse": (
                    float("nan")
                    if fg_true is None
                    else metrics.foreground_mse(got.foreground, fg_true, true)
                ),
                "seconds": seconds,
            }
            if by_alpha:
                row["by_alpha"] = [list(b) for b in metrics.sad_by_alpha(got.alpha, true)]
            rows.append(row)
            if sheets:
                _quality_sheet(Path(sheets) / f"{case.name}_{engine}.png", plate, clean, true, got)
            print(
                f"| {case.name} | {engine} | {row['sad']:.3f} | {row['mse']:.3f} | "
                f"{row['grad']:.3f} | {row['conn']:.3f} | {row['fg_mse']:.3f} | {seconds:.3f} |",
                flush=True,
            )
    for engine in engines:
        mine = [r for r in rows if r["engine"] == engine]
        keys = ("sad", "mse", "grad", "conn", "fg_mse")
        mean = {k: float(np.mean([r[k] for r in mine])) for k in keys}
        print(
            f"| **mean** | {engine} | {mean['sad']:.3f} | {mean['mse']:.3f} | "
            f"{mean['grad']:.3f} | {mean['conn']:.3f} | {mean['fg_mse']:.3f} | |"
        )
    if by_alpha:
        print("\nSAD by true alpha: over / under the truth (share of pixels)")
        print("| case | engine | " + " | ".join(_bin_name(b) for b in rows[0]["by_alpha"]) + " |")
        print("|---|---|" + "---:|" * len(rows[0]["by_alpha"]))
        for r in rows:
            cells = " | ".join(f"+{o:.2f} / -{u:.2f} ({f:.1%})" for _, _, f, o, u in r["by_alpha"])
            print(f"| {r['case']} | {r['engine']} | {cells} |")
    return rows


def _bin_name(b: list[float]) -> str:
    lo, hi = b[0], b[1]
    if hi <= 1e-6:
        return "0"
    if lo >= 1.0 - 1e-6:
        return "1"
    return f"[{lo:.2f}, {hi:.2f})" if hi < 1.0 - 1e-6 else f"[{lo:.2f}, 1)"


def _quality_sheet(
    path: Path, plate: np.ndarray, clean: np.ndarray, true: np.ndarray, got: Any
) -> None:
    """Every stage of one case's matte beside the ground truth, for a person to look at."""
    from bgmatte.host_bridge.contact_sheet import contact_sheet
    from bgmatte.host_bridge.imageio import write_png
    from bgmatte.host_bridge.preview import over_checkerboard

    path.parent.mkdir(parents=True, exist_ok=True)
    tiles = [
        ("plate", plate),
        ("clean plate (as used)", got.clean_plate),
        ("difference x4", got.difference * 4.0),
        ("segmentation (prior)", got.segmentation),
        ("error map", got.error),
        ("alpha", got.alpha),
        ("alpha ground truth", true),
        ("alpha error x4", np.abs(got.alpha - true) * 4.0),
        ("foreground", got.foreground * (got.alpha[..., None] > 0)),
        ("premultiplied", got.rgba[..., :3]),
        ("over a checkerboard", over_checkerboard(got)),
    ]
    write_png(str(path), contact_sheet(tiles, columns=5))


def synthetic_frame(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A plausible scene-linear plate / clean plate pair: textured HDR background, a soft
    person-like subject with strands, 1 % noise."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    small = rng.random((height // 16 + 1, width // 16 + 1, 3)).astype(np.float32)
    bg = ndimage.zoom(small, (16, 16, 1), order=1)[:height, :width] * 0.8 + 0.1
    bg[: height // 10, : width // 10] *= 8.0  # a bright window
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    body = ((x - 0.5 * width) / (0.18 * width)) ** 2 + ((y - 0.75 * height) / (0.5 * height)) ** 2
    head = ((x - 0.5 * width) / (0.07 * width)) ** 2 + ((y - 0.3 * height) / (0.12 * height)) ** 2
    alpha = np.clip(1.5 - np.minimum(body, head), 0.0, 1.0)
    strands = (np.sin(x * 0.9) > 0.95) & (head < 2.0) & (y < 0.3 * height)
    alpha = np.maximum(alpha, strands * 0.6).astype(np.float32)
    fg = np.stack([0.6 + 0 * x, 0.4 + 0 * x, 0.3 + 0 * x], -1).astype(np.float32)
    a = alpha[..., None]
    plate = a * fg + (1 - a) * bg
    plate = plate * (1 + 0.01 * rng.standard_normal(plate.shape, dtype=np.float32))
    clean = bg * (1 + 0.01 * rng.standard_normal(bg.shape, dtype=np.float32))
    return plate.astype(np.float32), clean.astype(np.float32)


def speed_child(
    size: str,
    frames: int,
    warmup: int,
    threads: int,
    engine: str,
    extra: dict | None = None,
    device: str = "cpu",
) -> dict:
    """Time one resolution in this process; returns the figures."""
    import torch

    torch.set_num_threads(threads)
    import bgmatte

    h, w = SIZES[size]
    plate, clean = synthetic_frame(h, w)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for i in range(warmup + frames):
        t0 = time.perf_counter()
        got = bgmatte.matte(plate, clean, engine=engine, device=device, **(extra or {}))
        _ = got.foreground
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "size": size,
        "engine": engine,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "frames": frames,
        "threads": threads,
        "device": device,
        "peak_rss_gib": peak / 2**20,
        "inputs_rss_gib": base_rss / 2**20,
    }


def speed(
    sizes: Sequence[str],
    frames: int,
    warmup: int,
    threads: int,
    engines: Sequence[str],
    extra: dict[str, str] | None = None,
    device: str = "cpu",
) -> list[dict]:
    """Run :func:`speed_child` in a fresh process per (engine, size); prints a table."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    rows = []
    print("| engine | size | median s/frame | min s/frame | peak RSS GiB | threads |")
    print("|---|---|---:|---:|---:|---:|")
    for engine in engines:
        for size in sizes:
            code = (
                "import json,sys; from bgmatte.bench.benchmarks import speed_child; "
                f"print(json.dumps(speed_child({size!r}, {frames}, {warmup}, {threads}, "
                f"{engine!r}, {extra or {}!r}, {device!r})))"
            )
            out = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
            )
            if out.returncode != 0:
                last = (out.stderr.strip().splitlines() or ["?"])[-1]
                print(f"| {engine} | {size} | failed: {last} |")
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            row["settings"] = extra or {}
            print(
                f"| {engine} {extra or ''}{'' if device == 'cpu' else ' ' + device} | {size} | "
                f"{row['median_s']:.3f} | {row['min_s']:.3f} | "
                f"{row['peak_rss_gib']:.2f} | {threads} |",
                flush=True,
            )
    return rows


def align_shots(
    shots: int, height: int, width: int, max_shake: float, seed: int, engine: str
) -> list[dict]:
    """Run the alignment benchmark (see module docstring); prints a table, returns the rows."""
    import warnings

    import bgmatte
    from bgmatte.bench import metrics
    from bgmatte.bench.scenes.shake import apply_homography, grid_points, make_shaken_shot
    from bgmatte.plugin.align import align

    rng = np.random.default_rng(seed)
    rows = []
    print(
        "| shot | true shake px | status | inliers | residual median px | SAD shake (auto) | "
        "SAD no shake | ratio | SAD shake (align off) | align s |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for i in range(shots):
        shot = make_shaken_shot(height, width, float(rng.uniform(0.0, max_shake)), seed + i)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            got = align(shot.plate, shot.clean_plate, "auto")
            seconds = time.perf_counter() - t0
            shaken = bgmatte.matte(shot.plate, shot.clean_plate, engine=engine, align="auto")
        pts = grid_points(height, width, 4)
        ix = pts.astype(int)
        keep = (shot.alpha[ix[:, 1], ix[:, 0]] == 0) & got.valid[ix[:, 1], ix[:, 0]]
        moved = apply_homography(got.homography, pts[keep]) - apply_homography(
            shot.homography, pts[keep]
        )
        still = bgmatte.matte(shot.plate, shot.steady_clean_plate, engine=engine, align="off")
        off = bgmatte.matte(shot.plate, shot.clean_plate, engine=engine, align="off")
        row = {
            "shot": i,
            "shake_px": shot.shake_px,
            "status": got.report.status,
            "inliers": got.report.inliers,
            "residual_px": float(np.median(np.linalg.norm(moved, axis=1))),
            "sad_shake": metrics.sad(shaken.alpha, shot.alpha),
            "sad_still": metrics.sad(still.alpha, shot.alpha),
            "sad_off": metrics.sad(off.alpha, shot.alpha),
            "seconds": seconds,
            "warnings": [str(w.message) for w in caught],
        }
        row["ratio"] = row["sad_shake"] / row["sad_still"]
        rows.append(row)
        print(
            f"| {i} | {row['shake_px']:.2f} | {row['status']} | {row['inliers']} | "
            f"{row['residual_px']:.3f} | {row['sad_shake']:.3f} | {row['sad_still']:.3f} | "
            f"{row['ratio']:.3f} | {row['sad_off']:.3f} | {seconds:.2f} |",
            flush=True,
        )
        for message in row["warnings"]:
            print(f"  warning: {message}")
    keys = ("shake_px", "residual_px", "sad_shake", "sad_still", "ratio", "sad_off", "seconds")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    print(
        f"| **mean** | {mean['shake_px']:.2f} | | | {mean['residual_px']:.3f} | "
        f"{mean['sad_shake']:.3f} | {mean['sad_still']:.3f} | {mean['ratio']:.3f} | "
        f"{mean['sad_off']:.3f} | {mean['seconds']:.2f} |"
    )
    return rows


def temporal(
    frames: int,
    height: int,
    width: int,
    speeds: Sequence[float],
    radii: Sequence[int],
    seed: int,
    extra: dict[str, object],
) -> list[dict]:
    """Run the temporal benchmark (see module docstring); prints a table, returns the rows."""
    from bgmatte.bench import metrics
    from bgmatte.bench.scenes.moving import make_moving_shot
    from bgmatte.host_bridge.arrays import ArrayFetcher
    from bgmatte.plugin.node import Node

    rows = []
    print(
        "| speed px/frame | temporal_radius | dtSSD | ratio to radius 0 | mean SAD | s/frame "
        "| steady floor | floor / radius 0 |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for speed in speeds:
        shot = make_moving_shot(frames, height, width, speed, seed)
        fetcher = ArrayFetcher(
            plate={i + 1: p for i, p in enumerate(shot.plates)}, clean_plate=shot.clean_plate
        )
        base = floor = None
        for radius in (0, *[r for r in radii if r]):
            node = Node({**extra, "temporal_radius": radius, "output": "alpha"})
            t0 = time.perf_counter()
            alphas = [node.render(f, fetcher)["alpha"][..., 0] for f in range(1, frames + 1)]
            seconds = (time.perf_counter() - t0) / frames
            flicker = metrics.dtssd(alphas, shot.alphas)
            if base is None:
                base, floor = flicker, steady_floor(shot, alphas)
            row = {
                "speed": speed,
                "radius": radius,
                "dtssd": flicker,
                "ratio": flicker / base,
                "sad": float(
                    np.mean([metrics.sad(a, t) for a, t in zip(alphas, shot.alphas, strict=True)])
                ),
                "seconds": seconds,
                "floor": floor,
            }
            rows.append(row)
            print(
                f"| {speed:.2f} | {radius} | {flicker:.3f} | {row['ratio']:.3f} | "
                f"{row['sad']:.3f} | {seconds:.3f} | {floor:.3f} | {floor / base:.3f} |",
                flush=True,
            )
    return rows


def steady_floor(shot: MovingShot, alphas: Sequence[np.ndarray]) -> float:
    """The dtSSD of a matte with the per-frame errors of ``alphas`` and no flicker at all:
    frame k's error (alpha - truth) carried exactly along the subject's true motion and added
    to every frame's truth (so it moves with the subject, as a perfectly steady matte's
    errors would), averaged over k.

    dtSSD measures the error of alpha's frame-to-frame change, and an error that moves with
    the subject changes from frame to frame too, so no temporal filter that keeps the
    per-frame accuracy goes below this; only a more accurate per-frame matte does.
    """
    from bgmatte.bench import metrics

    n = len(alphas)
    truth = shot.alphas
    per_source = []
    for k in range(n):
        error = alphas[k] - truth[k]
        steady = [truth[i] + shot.carried(error, k, i) for i in range(n)]
        per_source.append(metrics.dtssd(steady, truth))
    return float(np.mean(per_source))


def adapt_shot(
    frames: int,
    height: int,
    width: int,
    look: str,
    seed: int,
    config: str | None,
    steps: int | None,
    out: str,
) -> list[dict]:
    """Run the adaptation benchmark (see module docstring); prints a table, returns the rows."""
    from bgmatte.bench import metrics
    from bgmatte.bench.scenes.moving import make_moving_shot
    from bgmatte.host_bridge.arrays import ArrayFetcher
    from bgmatte.plugin.engines.network import weights_path
    from bgmatte.plugin.node import Node
    from bgmatte.plugin.training.adapt import adapt, load_adapt_config, prepare, teacher_node

    cfg = load_adapt_config(config)
    if steps:
        cfg["steps"] = steps
    shot = make_moving_shot(frames, height, width, speed=0.5, seed=seed, look=look)
    fetcher = ArrayFetcher(
        plate={i + 1: p for i, p in enumerate(shot.plates)}, clean_plate=shot.clean_plate
    )
    numbers = list(range(1, frames + 1))
    weights = weights_path("")
    teacher = teacher_node({}, weights, cfg)
    t0 = time.perf_counter()
    data = prepare(lambda f: teacher.solve_frame(f, fetcher), numbers)
    prep = time.perf_counter() - t0
    Path(out).mkdir(parents=True, exist_ok=True)
    adapted = str(Path(out) / "adapted.safetensors")
    t0 = time.perf_counter()
    summary = adapt(data, weights, adapted, cfg, Path(out) / "log")
    wall = time.perf_counter() - t0
    before, after = Node({"output": "alpha"}), Node({"output": "alpha", "weights": adapted})
    rows = []
    print(f"| frame | SAD shipped | SAD adapted | SAD teacher |  (look {look}, {frames} frames)")
    print("|---:|---:|---:|---:|")
    for i, f in enumerate(numbers):
        true = shot.alphas[i]
        row = {
            "frame": f,
            "sad_before": metrics.sad(before.render(f, fetcher)["alpha"][..., 0], true),
            "sad_after": metrics.sad(after.render(f, fetcher)["alpha"][..., 0], true),
            "sad_teacher": metrics.sad(data.teacher[i, 0].numpy(), true),
        }
        rows.append(row)
        print(
            f"| {f} | {row['sad_before']:.3f} | {row['sad_after']:.3f} | "
            f"{row['sad_teacher']:.3f} |",
            flush=True,
        )
    mean = {
        k: float(np.mean([r[k] for r in rows])) for k in ("sad_before", "sad_after", "sad_teacher")
    }
    print(
        f"| **mean** | {mean['sad_before']:.3f} | {mean['sad_after']:.3f} | "
        f"{mean['sad_teacher']:.3f} |"
    )
    print(
        f"adapt: {summary['steps']} steps in {wall:.0f} s (teacher and flows {prep:.0f} s), "
        f"weights {adapted}, report {Path(out) / 'log' / 'report.html'}"
    )
    return rows


def parallax_shots(
    shots: int,
    height: int,
    width: int,
    parallaxes: Sequence[float],
    engines: Sequence[str],
    seed: int,
    extra: dict[str, object],
) -> list[dict]:
    """Run the parallax benchmark (see module docstring); prints a table, returns the rows."""
    import warnings

    import bgmatte
    from bgmatte.bench.scenes.shake import make_parallax_shot

    rows = []
    print("| parallax px | engine | alpha on background | on near layer | on solid subject |")
    print("|---:|---|---:|---:|---:|")
    for px in parallaxes:
        made = [make_parallax_shot(height, width, 4.0, px, seed + i) for i in range(shots)]
        for engine in engines:
            bg, near, solid = [], [], []
            for shot in made:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    a = bgmatte.matte(shot.plate, shot.clean_plate, engine=engine, **extra).alpha
                clear = shot.alpha == 0
                bg.append(float(a[clear].mean()))
                near.append(float(a[clear & (shot.near > 0.5)].mean()))
                solid.append(float(a[shot.alpha >= 0.999].mean()))
            row = {
                "parallax_px": px,
                "engine": engine,
                "background": float(np.mean(bg)),
                "near": float(np.mean(near)),
                "subject": float(np.mean(solid)),
            }
            rows.append(row)
            print(
                f"| {px:.1f} | {engine} | {row['background']:.4f} | {row['near']:.4f} | "
                f"{row['subject']:.4f} |",
                flush=True,
            )
    return rows
