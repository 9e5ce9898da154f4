"""``bgmatte info``: versions, device and OCIO config; the colour space list; and the installed
console script (the one subprocess test of the command line)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy
import OpenImageIO
import PyOpenColorIO
import pytest

import bgmatte
from bgmatte.plugin import colour

Run = Callable[..., tuple[int, str, str]]  # the `cli` fixture


def test_info_prints_versions_device_and_ocio_config(cli: Run) -> None:
    rc, stdout, err = cli("info")
    assert (rc, err) == (0, "")
    lines = stdout.splitlines()
    assert lines[0] == f"bgmatte {bgmatte.__version__}"
    assert f"numpy {numpy.__version__}" in lines[1]
    assert lines[2] == (
        f"OpenImageIO {OpenImageIO.__version__}  OpenColorIO {PyOpenColorIO.__version__}"
    )
    assert lines[3].startswith("device: cpu (")
    assert f"OCIO config: {colour.config_name()}" in lines
    assert colour.config_name().startswith("studio-config")  # the built-in ACES config
    assert "working space: ACEScg" in lines
    # the command line's process keeps frame buffers in its heap (bgmatte.plugin.heap)
    assert lines[-1].startswith("heap: frame buffers reused from frame to frame (glibc")


def test_info_colorspaces_lists_acescg(cli: Run) -> None:
    rc, stdout, err = cli("info", "--colorspaces")
    assert (rc, err) == (0, "")
    names = stdout.splitlines()
    assert "ACEScg" in names
    assert names == colour.colorspaces()


def test_console_script_exits_2_with_one_line(shot: Any, kit: Any) -> None:
    script = Path(sys.executable).with_name("bgmatte")
    if not script.is_file():
        pytest.skip(f"no installed console script beside {sys.executable}")
    gone = str(shot.folder / "gone.exr")
    env = {k: v for k, v in os.environ.items() if k != "OCIO"}
    before = kit.all_files(shot.folder)
    # No --quiet: the progress bar must stay off stderr when it is not a terminal.
    got = subprocess.run(
        [str(script), "render", "--plate", gone, "--clean-plate", shot.clean, "--out", shot.out()],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert got.returncode == 2
    assert got.stderr == (
        f"bgmatte: error: plate: file not found: {gone}; check the path and frame number\n"
    )
    assert got.stdout == ""
    assert kit.all_files(shot.folder) == before
