"""A self-contained HTML report of a training run: config, loss curves (inline SVG) and the
image grids of every stage (PNG, embedded as base64). Needs no server, no TensorBoard."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")


def svg_curves(
    curves: Mapping[str, Sequence[tuple[int, float]]],
    width: int = 640,
    height: int = 260,
    log: bool = True,
) -> str:
    """Line plot of named (step, value) series; log-scaled y by default."""
    import math

    pts = [(s, v) for series in curves.values() for s, v in series if v > 0 or not log]
    if not pts:
        return "<p>no data yet</p>"
    f = (lambda v: math.log10(max(v, 1e-12))) if log else (lambda v: v)
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(f(p[1]) for p in pts), max(f(p[1]) for p in pts)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    m = 40

    def xy(s: int, v: float) -> str:
        px = m + (s - x0) / (x1 - x0) * (width - 2 * m)
        py = height - m - (f(v) - y0) / (y1 - y0) * (height - 2 * m)
        return f"{px:.1f},{py:.1f}"

    parts = [
        f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<rect width="{width}" height="{height}" fill="white" stroke="#ccc"/>',
    ]
    for i, (name, series) in enumerate(curves.items()):
        c = _COLOURS[i % len(_COLOURS)]
        line = " ".join(xy(s, v) for s, v in series if v > 0 or not log)
        parts.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{line}"/>')
        parts.append(
            f'<text x="{m + 110 * i}" y="16" fill="{c}" font-size="12">{html.escape(name)}</text>'
        )
    lo, hi = (10**y0, 10**y1) if log else (y0, y1)
    parts.append(f'<text x="4" y="{height - m}" font-size="10">{lo:.3g}</text>')
    parts.append(f'<text x="4" y="{m}" font-size="10">{hi:.3g}</text>')
    parts.append(f'<text x="{width - m - 40}" y="{height - 8}" font-size="10">step {x1}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def write_report(
    path: Path,
    title: str,
    config: Mapping[str, Any],
    curves: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
    images: Sequence[tuple[str, Path]],
    summary: Mapping[str, Any],
) -> None:
    """Write the report atomically. ``curves`` groups named series by plot title."""
    body = [
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Summary</h2><pre>" + html.escape(json.dumps(summary, indent=2)) + "</pre>",
    ]
    for plot, series in curves.items():
        body.append(f"<h2>{html.escape(plot)}</h2>" + svg_curves(series))
    for caption, png in images:
        data = base64.b64encode(png.read_bytes()).decode()
        body.append(
            f"<h3>{html.escape(caption)}</h3>"
            f'<img style="max-width:100%" src="data:image/png;base64,{data}"/>'
        )
    body.append("<h2>Config</h2><pre>" + html.escape(json.dumps(config, indent=2)) + "</pre>")
    text = (
        "<!doctype html><html><head><meta charset='utf-8'><title>"
        f"{html.escape(title)}</title></head><body style='font-family:sans-serif'>"
        + "\n".join(body)
        + "</body></html>"
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
