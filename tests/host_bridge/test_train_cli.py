"""``bgmatte train --processes``: the flag reaches data-parallel training (its error spelled as
the flag), and a two-process run writes what a one-process run writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.plugin.test_training import CONFIG

Run = Any  # the `cli` fixture


def test_processes_that_do_not_split_the_batch_are_named_as_the_flag(
    cli: Run, tmp_path: Path
) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG)  # batch 2
    rc, out, err = cli("train", "--config", str(config), "--out", str(tmp_path / "run"),
                       "--quiet", "--processes", "3")  # fmt: skip
    assert (rc, out) == (2, "")
    assert err == (
        "bgmatte: error: --processes: a batch of 2 does not split evenly over 3 processes; "
        "make the batch (train.batch in the config) a multiple of 3, or use a number of "
        "processes that divides it\n"
    )


def test_two_processes_train_from_the_command_line(cli: Run, tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG.replace("steps = 3", "steps = 1"))
    out = tmp_path / "run"
    rc, stdout, err = cli("train", "--config", str(config), "--out", str(out), "--quiet",
                          "--processes", "2")  # fmt: skip
    assert (rc, err) == (0, "")
    assert stdout.startswith(f"bgmatte: trained weights in {out / 'model.safetensors'}")
    assert (out / "model.safetensors").is_file()
