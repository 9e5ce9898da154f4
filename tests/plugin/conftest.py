"""Small procedural shots with exact ground truth, made by the tests themselves."""

from __future__ import annotations

import pytest

from bgmatte.bench.scenes.demo_shot import DemoShot, make_demo_shot


@pytest.fixture(scope="session")
def small_shot() -> DemoShot:
    """A 160×120 demo frame: soft body, strands, veil, HDR lights, drifted noisy clean plate."""
    return make_demo_shot(height=120, width=160, seed=3)
