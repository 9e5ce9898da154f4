"""``bgmatte bench quality``: per case and mean, SAD / MSE / gradient / connectivity errors
(Rhemann et al. 2009, :mod:`bgmatte.bench.metrics`) and strand recall of each engine on case
folders in the shared benchmark format (plate.exr, clean_plate.exr, alpha_gt.exr, optionally
fg_gt.exr)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bgmatte.bench.command import Benchmark, add_settings, settings
from bgmatte.bench.table import means, print_header, print_row

_SCORES = ("sad", "mse", "grad", "strand", "conn", "fg_mse")


@dataclass(frozen=True)
class Case:
    """One case folder's images (float32, scene-linear)."""

    name: str
    plate: np.ndarray  # H×W×3
    clean_plate: np.ndarray  # H×W×3
    alpha: np.ndarray  # H×W ground truth
    foreground: np.ndarray | None  # H×W×3 ground truth, where the case has one


def find_cases(roots: Sequence[str]) -> list[Path]:
    """Case folders (holding plate.exr) under each root, up to three levels deep."""
    found: list[Path] = []
    for root in roots:
        base = Path(root)
        for depth in ("", "*", "*/*", "*/*/*"):
            found += [p.parent for p in sorted(base.glob(f"{depth}/plate.exr".lstrip("/")))]
    return sorted(dict.fromkeys(found))


def read_case(folder: Path) -> Case:
    """The images of one case folder."""
    from bgmatte.host_bridge.imageio import read_image

    fg_file = folder / "fg_gt.exr"
    return Case(
        name=folder.name,
        plate=read_image(str(folder / "plate.exr"), "plate").pixels[..., :3],
        clean_plate=read_image(str(folder / "clean_plate.exr"), "clean_plate").pixels[..., :3],
        alpha=read_image(str(folder / "alpha_gt.exr"), "alpha_gt").pixels[..., -1],
        foreground=(
            read_image(str(fg_file), "fg_gt").pixels[..., :3] if fg_file.is_file() else None
        ),
    )


def score_case(
    case: Case, engine: str, extra: Mapping[str, object], by_alpha: bool
) -> tuple[dict, Any]:
    """Matte one case with one engine; returns its row and the Matte."""
    import bgmatte
    from bgmatte.bench import metrics

    t0 = time.perf_counter()
    got = bgmatte.matte(case.plate, case.clean_plate, engine=engine, **extra)
    seconds = time.perf_counter() - t0
    true = case.alpha
    row = {
        "case": case.name,
        "engine": engine,
        "sad": metrics.sad(got.alpha, true),
        "mse": metrics.mse(got.alpha, true),
        "grad": metrics.gradient_error(got.alpha, true),
        "strand": metrics.strand_recall(got.alpha, true),
        "conn": metrics.connectivity_error(got.alpha, true),
        "fg_mse": (
            float("nan")
            if case.foreground is None
            else metrics.foreground_mse(got.foreground, case.foreground, true)
        ),
        "seconds": seconds,
    }
    if by_alpha:
        row["by_alpha"] = [list(b) for b in metrics.sad_by_alpha(got.alpha, true)]
    return row, got


def write_sheet(path: Path, case: Case, got: Any) -> None:
    """Every stage of one case's matte beside the ground truth, for a person to look at."""
    from bgmatte.host_bridge.contact_sheet import contact_sheet
    from bgmatte.host_bridge.preview import over_checkerboard
    from bgmatte.plugin.display import write_png

    path.parent.mkdir(parents=True, exist_ok=True)
    tiles = [
        ("plate", case.plate),
        ("clean plate (as used)", got.clean_plate),
        ("difference x4", got.difference * 4.0),
        ("segmentation (prior)", got.segmentation),
        ("error map", got.error),
        ("alpha", got.alpha),
        ("alpha ground truth", case.alpha),
        ("alpha error x4", np.abs(got.alpha - case.alpha) * 4.0),
        ("foreground", got.foreground * (got.alpha[..., None] > 0)),
        ("premultiplied", got.rgba[..., :3]),
        ("over a checkerboard", over_checkerboard(got)),
    ]
    write_png(str(path), contact_sheet(tiles, columns=5))


def print_table_header() -> None:
    titles = ("case", "engine", "SAD", "MSE×1e3", "Grad", "Strand", "Conn", "FG MSE×1e3", "s/frame")
    print_header(
        titles, "llrrrrrrr", " (Strand: recall of thin-structure pixels, higher is better)"
    )


def print_case(row: dict) -> None:
    print_row(
        [row["case"], row["engine"], *(f"{row[k]:.3f}" for k in _SCORES), f"{row['seconds']:.3f}"]
    )


def print_means(rows: Sequence[dict], engines: Sequence[str]) -> None:
    for engine in engines:
        mine = [r for r in rows if r["engine"] == engine]
        mean = means(mine, _SCORES)
        # cases without thin structure have no strand recall (NaN): the mean is over the rest
        mean["strand"] = (
            float(np.nanmean([r["strand"] for r in mine]))
            if any(np.isfinite(r["strand"]) for r in mine)
            else float("nan")
        )
        print_row(["**mean**", engine, *(f"{mean[k]:.3f}" for k in _SCORES), ""])


def _bin_name(b: list[float]) -> str:
    lo, hi = b[0], b[1]
    if hi <= 1e-6:
        return "0"
    if lo >= 1.0 - 1e-6:
        return "1"
    return f"[{lo:.2f}, {hi:.2f})" if hi < 1.0 - 1e-6 else f"[{lo:.2f}, 1)"


def print_by_alpha(rows: Sequence[dict]) -> None:
    """Where each SAD comes from: over / under the truth per bin of the true alpha."""
    print("\nSAD by true alpha: over / under the truth (share of pixels)")
    bins = rows[0]["by_alpha"]
    print_header(["case", "engine", *(_bin_name(b) for b in bins)], "ll" + "r" * len(bins))
    for r in rows:
        cells = [f"+{o:.2f} / -{u:.2f} ({f:.1%})" for _, _, f, o, u in r["by_alpha"]]
        print_row([r["case"], r["engine"], *cells])


def quality(
    roots: Sequence[str],
    engines: Sequence[str],
    extra: Mapping[str, object],
    sheets: str | None = None,
    by_alpha: bool = False,
) -> list[dict]:
    """Score each engine on each case; prints a markdown table; returns the rows. ``sheets``:
    also write a contact sheet of every stage per case and engine into that folder.
    ``by_alpha``: also print where each SAD comes from, by bins of the true alpha (rows get
    ``by_alpha``: [lo, hi, fraction, over, under] per bin)."""
    from bgmatte.errors import BgmatteError

    folders = find_cases(roots)
    if not folders:
        raise BgmatteError(
            "bench",
            f"no case folders under {', '.join(roots)}",
            "pass folders that hold plate.exr, clean_plate.exr and alpha_gt.exr",
        )
    rows = []
    print_table_header()
    for folder in folders:
        case = read_case(folder)
        for engine in engines:
            row, got = score_case(case, engine, extra, by_alpha)
            rows.append(row)
            if sheets:
                write_sheet(Path(sheets) / f"{case.name}_{engine}.png", case, got)
            print_case(row)
    print_means(rows, engines)
    if by_alpha:
        print_by_alpha(rows)
    return rows


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cases", nargs="+", help="case folders or folders of cases")
    parser.add_argument("--engines", default="network,classical", help="comma-separated")
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("--sheets", help="also write a contact sheet per case and engine here")
    parser.add_argument(
        "--by-alpha", action="store_true", help="also print the SAD by bins of the true alpha"
    )
    add_settings(parser)


def _run(args: argparse.Namespace) -> list[dict]:
    return quality(args.cases, args.engines.split(","), settings(args), args.sheets, args.by_alpha)


BENCHMARK = Benchmark("quality", "SAD/MSE/Grad/Conn per case and mean", _add_arguments, _run)
