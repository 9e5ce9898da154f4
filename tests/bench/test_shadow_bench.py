"""``bgmatte bench shadow``: its ``--set`` reaches the node (small generated shots)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest

from bgmatte.bench import shadow


def _rows(*settings: str) -> list[dict]:
    args = argparse.Namespace(
        size=(72, 128), engine="classical", sheet=None, json=None, settings=list(settings)
    )
    return shadow.run(args)


def test_set_reaches_the_node(capsys: pytest.CaptureFixture[str]) -> None:
    separated = _rows()
    together = _rows("separate_shadows=off")  # both mattes then key the shadow as subject
    capsys.readouterr()
    shadowed = [r for r in together[:-1] if not math.isnan(r["alpha_shadow"])]
    assert len(shadowed) >= 3
    assert all(r["alpha_shadow"] == r["alpha_shadow_off"] for r in shadowed)
    assert any(r["alpha_shadow"] != r["alpha_shadow_off"] for r in separated[:-1])


def test_the_sheet_shows_the_shot_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = {n: tmp_path / f"sheet{n}.png" for n in (1, 4)}
    for n, path in paths.items():
        args = argparse.Namespace(
            size=(72, 128), engine="classical", sheet=str(path), sheet_shot=n, json=None,
            settings=[],
        )  # fmt: skip
        shadow.run(args)
    capsys.readouterr()
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes() != paths[4].read_bytes()  # shot 4 has a glow
