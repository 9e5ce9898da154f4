"""The package's layering, checked on every import statement of the product and the tests.

Layers, bottom up (ARCHITECTURE.md): ``bgmatte.errors`` (a leaf), ``kernels`` (compositing
maths), ``plugin`` (the node), ``host_bridge`` (the hosts) and ``bench`` (the demo and the
benchmarks). A module imports only from its own layer and the ones below. Two exceptions,
both named here: the command line builds ``bgmatte demo`` and ``bgmatte bench`` from the bench
registry, and the package root re-exports the Python host (``bgmatte.matte``).

The tests mirror the packages and follow the same rule, except that every test may use the
generated shots and metrics (``bgmatte.bench.scenes``, ``bgmatte.bench.metrics``: support
code that imports nothing above ``plugin``) and the package's public call ``bgmatte.matte``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# layer -> the bgmatte subpackages it may import (its own included)
ALLOWED = {
    "errors": {"errors"},
    "kernels": {"errors", "kernels"},
    "plugin": {"errors", "kernels", "plugin"},
    "host_bridge": {"errors", "kernels", "plugin", "host_bridge"},
    "bench": {"errors", "kernels", "plugin", "host_bridge", "bench", ""},
}
EXCEPTIONS = {
    ("host_bridge/cli.py", "bench"),  # `bgmatte bench` and `bgmatte demo` from the registry
    ("bgmatte/__init__.py", "host_bridge"),  # bgmatte.matte, the Python host
}
SUPPORT = ("bench.scenes", "bench.metrics")  # generated shots and metrics, for any test
SOURCES = {"kernels": "kernels", "plugin": "plugin", "host_bridge": "host_bridge", "bench": "bench"}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module below ``bgmatte``) for every ``bgmatte`` import in ``path``;
    "" for the package root itself."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from bgmatte import kernels` imports bgmatte.kernels; `from bgmatte.plugin
            # import node` imports bgmatte.plugin (and its node)
            names = [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name == "bgmatte" or name.startswith("bgmatte."):
                found.append((node.lineno, name.removeprefix("bgmatte").lstrip(".")))
    return found


def _layer(module: str) -> str:
    top = module.split(".")[0]
    return "errors" if top == "errors" else top


def _files() -> list[tuple[Path, str, bool]]:
    """(file, its layer, is a test) for the product and the mirrored tests."""
    out = [
        (p, layer, False)
        for folder, layer in SOURCES.items()
        for p in (ROOT / folder).rglob("*.py")
    ]
    out.append((ROOT / "bgmatte" / "errors.py", "errors", False))
    out += [(p, layer, True) for layer in SOURCES for p in (ROOT / "tests" / layer).rglob("*.py")]
    return out


def violations() -> list[str]:
    bad = []
    for path, layer, is_test in _files():
        rel = path.relative_to(ROOT).as_posix()
        for line, module in _imports(path):
            target = _layer(module)
            if target in ALLOWED[layer] or (rel, target) in EXCEPTIONS:
                continue
            if is_test and (module == "" or module.startswith(SUPPORT) or module in ("matte",)):
                continue
            if module in ("__version__", "BgmatteError", "Matte", "matte") and layer != "kernels":
                continue
            bad.append(f"{rel}:{line} ({layer}) imports bgmatte.{module}")
    return bad


def test_no_import_crosses_the_layering() -> None:
    assert violations() == []


def test_support_code_stays_below_the_hosts() -> None:
    """The shots and metrics every test may use import nothing above the node."""
    for support in SUPPORT:
        folder = ROOT / support.replace(".", "/")
        files = list(folder.rglob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]
        for path in files:
            for line, module in _imports(path):
                assert _layer(module) in ALLOWED["plugin"] or module.startswith(SUPPORT), (
                    f"{path.relative_to(ROOT)}:{line} imports bgmatte.{module}"
                )


@pytest.mark.parametrize(
    ("layer", "module", "allowed"),
    [
        ("kernels", "plugin.errors", False),
        ("plugin", "host_bridge.arrays", False),
        ("host_bridge", "plugin.node", True),
        ("kernels", "errors", True),
    ],
)
def test_the_rule_itself(layer: str, module: str, allowed: bool) -> None:
    assert (_layer(module) in ALLOWED[layer]) is allowed
