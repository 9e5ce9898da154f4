"""``bgmatte bench shadow``: its ``--set`` reaches the node (small generated shots)."""

from __future__ import annotations

import argparse
import math

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
