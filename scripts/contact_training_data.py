"""Contact sheet of training composites, for a person to look at.

    python scripts/contact_training_data.py --bundle /tmp/bgm_bundle.npz --out /tmp/td.png
    python scripts/contact_training_data.py --shared ../shared/data --bundle /tmp/b.npz ...

One row per sample: plate, clean plate, |plate - clean plate| x4, alpha, foreground (over
black, unpremultiplied), segmentation (black when the sample has none). ``--bundle none``
shows procedural data only. ``--shared`` builds the bundle first if it is missing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bgmatte.host_bridge.contact_sheet import contact_sheet
from bgmatte.plugin.display import write_png
from bgmatte.plugin.training.data import CompositeSampler


def main() -> None:
    """Parse arguments, draw one batch, write the PNG."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", default="/tmp/bgm_bundle.npz", help="bundle .npz, or 'none'")
    ap.add_argument("--shared", help="shared data folder: build the bundle if missing")
    ap.add_argument("--out", default="training_data.png")
    ap.add_argument("--samples", type=int, default=6)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--step", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    bundle = None if args.bundle == "none" else Path(args.bundle)
    if bundle is not None and args.shared:
        from bgmatte.plugin.training.bundle import build_bundle

        build_bundle(args.shared, bundle)
    sampler = CompositeSampler(bundle, seed=args.seed)
    t0 = time.perf_counter()
    b = sampler.sample(args.step, args.samples, args.size)
    dt = time.perf_counter() - t0
    tiles: list[tuple[str, np.ndarray]] = []
    for i in range(args.samples):

        def hwc(key: str, i: int = i) -> np.ndarray:
            return np.asarray(b[key][i].transpose(1, 2, 0))

        diff = np.abs(hwc("plate") - hwc("clean_plate")) * 4.0
        seg = "segmentation" if b["has_segmentation"][i] else "no segmentation"
        tiles += [
            (f"{i} plate", hwc("plate")),
            ("clean plate", hwc("clean_plate")),
            ("|difference| x4", diff),
            ("alpha", hwc("alpha")),
            ("foreground", hwc("foreground")),
            (seg, hwc("segmentation")),
        ]
    write_png(args.out, contact_sheet(tiles, columns=6, width=args.size))
    print(f"{args.out}: {args.samples} samples {args.size}² in {dt:.2f} s")


if __name__ == "__main__":
    main()
