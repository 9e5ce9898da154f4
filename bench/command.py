"""What a ``bgmatte bench`` subcommand is (:class:`Benchmark`) and the argparse helpers the
benchmarks share, so that each benchmark declares its flags once, in its own module, and
the command line builds its subcommands from :data:`bgmatte.bench.registry.BENCHMARKS`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Benchmark:
    """One ``bgmatte bench NAME`` subcommand: its help line, its flags, and what runs it.

    ``run`` takes the parsed arguments, prints the benchmark's table and returns its rows
    (the command line writes them to ``--json`` where the benchmark has that flag)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], list[dict]]


def parse_size(text: str) -> tuple[int, int]:
    """A benchmark's HEIGHTxWIDTH as (height, width)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not HEIGHTxWIDTH, e.g. 180x320") from None
    return height, width


def add_settings(parser: argparse.ArgumentParser) -> None:
    """``--set PARAM=VALUE``: node parameters for every engine the benchmark runs."""
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="PARAM=VALUE",
        help="a node parameter for every engine (repeatable), e.g. --set prior=none",
    )


def settings(args: argparse.Namespace) -> dict[str, str | bool]:
    """The ``--set`` pairs as {param: value} (empty where the benchmark has no ``--set``);
    a yes/no param's ``true`` / ``false`` (also on/off, 1/0) as a bool, the rest as text for
    the node to check."""
    from bgmatte.plugin.params import PARAMS_BY_NAME

    words = {"true": True, "on": True, "1": True, "false": False, "off": False, "0": False}
    out: dict[str, str | bool] = {}
    for item in getattr(args, "settings", []):
        name, value = item.split("=", 1)
        known = PARAMS_BY_NAME.get(name)
        is_bool = known is not None and known.type == "bool"
        out[name] = words.get(value.lower(), value) if is_bool else value
    return out
