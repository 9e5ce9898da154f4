"""Damaged EXR files through the command line: bad input never hurts.

Each case is a seeded mutant (:mod:`exr_fuzz`, next to this file) of a 64×48 plate or clean
plate, or both, rendered by ``python -m bgmatte render`` in a subprocess. Every run must end
one of two ways:

* **rendered**: exit 0, nothing on stderr but ``bgmatte: warning:`` lines, and the one output
  file, readable, with finite pixels;
* **stopped**: exit 2, stderr ending in exactly one line ``bgmatte: error: <input>: <problem>;
  <fix>`` that names an input (plate or clean plate) and holds no control characters,
  nothing on stdout, and no file written at all.

Anything else fails the case: a traceback, an exit by signal (a crash in OpenImageIO or
OpenEXR), a hang (60 s), another exit status, or a file left behind (the writer's hidden
``.<name>.*.tmp.exr`` temp files included). Each subprocess may use 6 GiB of address space, so
a header that asks for a huge image fails as a bad input would instead of taking the machine.

Most cases run the ``classical`` engine (about a second each); every tenth runs the default
network engine, and so do three damaged files that still read (most network cases stop at the
reader). The CI run is :data:`CI_CASES` seeds, one test each. The long run is 1,000
seeds in one test, skipped unless asked for; it prints the figures and lists every failing
seed::

    BGMATTE_FUZZ_FILES=1000 .venv/bin/pytest -m fuzz -s tests/host_bridge/test_fuzz_files.py

(``BGMATTE_FUZZ_FIRST`` moves the first seed, default 0.) Replay one seed by hand with
``.venv/bin/python tests/host_bridge/exr_fuzz.py --seed N --out DIR`` (``--which clean``,
``--float``) and the render command that :func:`command` builds.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio
import pytest

from bgmatte.errors import BgmatteError
from bgmatte.host_bridge.imageio import read_image

from . import exr_fuzz

CI_CASES = 80
TIMEOUT_S = 60
MEMORY_LIMIT = 6 << 30  # address space per render; torch needs about 2 GiB of it
LONG_RUN = int(os.environ.get("BGMATTE_FUZZ_FILES", "0") or 0)
FIRST_SEED = int(os.environ.get("BGMATTE_FUZZ_FIRST", "0") or 0)
_ERROR = re.compile(r"bgmatte: error: (?P<input>[\w-]+)[^\n]*?: [^\n]+; [^\n]+")


@dataclass(frozen=True)
class Case:
    """What seed ``seed`` damages and how it renders."""

    seed: int
    target: str  # "plate", "clean_plate" or "both"
    half: bool
    engine: str
    steps: tuple[str, ...]
    plate: bytes
    clean: bytes


@cache
def _base(which: str, half: bool) -> bytes:
    return exr_fuzz.base_exr(which, half=half)


def make_case(seed: int) -> Case:
    """The files of case ``seed``: the base shot with the plate, the clean plate or both
    mutated (the clean plate with seed ``seed + 1_000_000``)."""
    rng = random.Random(f"case {seed}")
    target = rng.choices(("plate", "clean_plate", "both"), weights=(15, 4, 1))[0]
    half = rng.random() < 0.7
    engine = "network" if seed % 10 == 7 else "classical"
    plate, clean = _base("plate", half), _base("clean", half)
    steps: list[str] = []
    if target in ("plate", "both"):
        mutant = exr_fuzz.mutate(plate, seed)
        plate = mutant.data
        steps += [f"plate: {s}" for s in mutant.steps]
    if target in ("clean_plate", "both"):
        mutant = exr_fuzz.mutate(clean, seed + 1_000_000)
        clean = mutant.data
        steps += [f"clean plate: {s}" for s in mutant.steps]
    return Case(seed, target, half, engine, tuple(steps), plate, clean)


def command(plate: str, clean: str, out: str, engine: str) -> list[str]:
    """The render the fuzz runs: ``python -m bgmatte render ... --quiet``."""
    return [sys.executable, "-m", "bgmatte", "render", "--plate", plate, "--clean-plate", clean,
            "--out", out, "--engine", engine, "--quiet"]  # fmt: skip


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@dataclass(frozen=True)
class Outcome:
    """``kind`` is "rendered", "stopped" or "failed"; ``detail`` says why, for a failure."""

    kind: str
    detail: str = ""


def _finite_output(path: Path) -> str:
    """ "" when ``path`` is a readable EXR with finite pixels, else what is wrong."""
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        return f"output unreadable: {oiio.geterror()}"
    try:
        pixels = inp.read_image(0, 0, 0, inp.spec().nchannels, oiio.FLOAT)
    finally:
        inp.close()
    if pixels is None:
        return "output has no pixels"
    if not np.isfinite(np.asarray(pixels)).all():
        return "output has NaN or Inf pixels"
    return ""


def run_case(case: Case, folder: Path) -> Outcome:
    """Render ``case`` in ``folder`` (made empty) and judge what happened."""
    folder.mkdir(parents=True)
    plate, clean, out = folder / "plate.exr", folder / "clean.exr", folder / "out" / "matte.exr"
    plate.write_bytes(case.plate)
    clean.write_bytes(case.clean)
    inputs = _files(folder)
    env = {k: v for k, v in os.environ.items() if k != "OCIO"}  # the built-in config
    try:
        run = subprocess.run(
            command(str(plate), str(clean), str(out), case.engine),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=TIMEOUT_S,
            env=env,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        return Outcome("failed", f"hang: no exit within {TIMEOUT_S} s")
    rc, stdout, stderr = run.returncode, run.stdout, run.stderr
    said = f"exit {rc}; stderr: {stderr[-2000:]!r}"
    if rc < 0:
        return Outcome("failed", f"killed by signal {-rc}; {said}")
    if "Traceback" in stderr:
        return Outcome("failed", f"traceback; {said}")
    lines = stderr.splitlines()
    warnings = [line for line in lines if line.startswith("bgmatte: warning: ")]
    written = _files(folder) - inputs
    if rc == 0:
        if len(warnings) != len(lines):
            return Outcome("failed", f"rendered, but stderr is more than warnings; {said}")
        if written != {"out/matte.exr"}:
            return Outcome("failed", f"rendered, files written: {sorted(written)}; {said}")
        problem = _finite_output(out)
        return Outcome("failed", f"rendered, {problem}") if problem else Outcome("rendered")
    if rc != 2:
        return Outcome("failed", said)
    if stdout or not stderr.endswith("\n") or len(lines) != len(warnings) + 1:
        return Outcome("failed", f"not one error line; stdout {stdout!r}; {said}")
    error = _ERROR.fullmatch(lines[-1])
    # Either input: a damaged header can still be a valid file of another format (a display
    # window lost or moved), and then the message rightly names the clean plate that differs.
    if error is None or error["input"] not in ("plate", "clean_plate"):
        return Outcome("failed", f"the error line names no input and fix; {said}")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in lines[-1]):
        return Outcome("failed", f"control characters in the error line; {said}")
    if written:
        return Outcome("failed", f"stopped, but files written: {sorted(written)}; {said}")
    return Outcome("stopped")


def _report(case: Case, outcome: Outcome) -> str:
    how = "half" if case.half else "float"
    steps = "; ".join(case.steps)
    return f"seed {case.seed} ({case.target}, {how}, {case.engine}: {steps}): {outcome.detail}"


@pytest.mark.parametrize("seed", range(CI_CASES))
def test_a_damaged_file_renders_or_stops_cleanly(seed: int, tmp_path: Path) -> None:
    case = make_case(seed)
    outcome = run_case(case, tmp_path / "case")
    assert outcome.kind != "failed", _report(case, outcome)


@cache
def _still_reading(count: int = 3, first: int = 2000) -> tuple[int, ...]:
    """The first ``count`` seeds from ``first`` whose damaged files both still read: most
    mutants stop at the reader, and these few take the network engine all the way."""
    found: list[int] = []
    seed = first
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "file.exr")
        while len(found) < count:
            case = make_case(seed)
            try:
                for data in (case.plate, case.clean):
                    Path(path).write_bytes(data)
                    read_image(path, "plate")
                found.append(seed)
            except BgmatteError:
                pass
            seed += 1
    return tuple(found)


@pytest.mark.parametrize("index", range(3))
def test_a_damaged_file_that_still_reads_renders_with_the_network(
    index: int, tmp_path: Path
) -> None:
    case = dataclasses.replace(make_case(_still_reading()[index]), engine="network")
    outcome = run_case(case, tmp_path / "case")
    assert outcome.kind != "failed", _report(case, outcome)


def test_mutants_are_deterministic_and_varied() -> None:
    cases = [make_case(seed) for seed in range(CI_CASES)]
    assert [c.plate + c.clean for c in cases[:5]] == [
        make_case(s).plate + make_case(s).clean for s in range(5)
    ]
    assert len({c.plate + c.clean for c in cases}) == CI_CASES  # no two alike
    kinds = Counter(step.split(": ")[1].split()[0] for c in cases for step in c.steps)
    assert {"truncated", "offset", "chunk"} <= set(kinds), kinds
    assert {c.target for c in cases} == {"plate", "clean_plate", "both"}
    assert {c.engine for c in cases} == {"classical", "network"}
    assert exr_fuzz.mutate(_base("plate", True), 1).data != _base("plate", True)


@pytest.mark.fuzz
@pytest.mark.skipif(not LONG_RUN, reason="the long run: BGMATTE_FUZZ_FILES=1000 pytest -m fuzz")
def test_long_run(tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    failures = []
    start = time.monotonic()
    for seed in range(FIRST_SEED, FIRST_SEED + LONG_RUN):
        case = make_case(seed)
        outcome = run_case(case, tmp_path / f"case{seed}")
        counts[outcome.kind] += 1
        if outcome.kind == "failed":
            failures.append(_report(case, outcome))
            print(failures[-1], flush=True)
    minutes = (time.monotonic() - start) / 60
    print(
        f"\nfuzz: {LONG_RUN} files (seeds {FIRST_SEED}..{FIRST_SEED + LONG_RUN - 1}) in "
        f"{minutes:.1f} min: {counts['rendered']} rendered, {counts['stopped']} stopped "
        f"cleanly, {counts['failed']} failed",
        flush=True,
    )
    assert not failures, "\n".join(failures)


# ---- what the fuzz found -----------------------------------------------------------------------
def _with_attribute_bytes(which: str, name: bytes, part: str, new: bytes) -> bytes:
    """The base ``which`` file with attribute ``name``'s type or value bytes replaced by
    ``new`` (the same length, so the rest of the file stays valid)."""
    data = bytearray(_base(which, True))
    attr = exr_fuzz.parse(bytes(data)).attribute(name)
    assert attr is not None
    at, old = (attr.type_at, attr.type) if part == "type" else (attr.value_at, b"")
    size = len(old) if part == "type" else attr.size
    assert len(new) == size
    data[at : at + size] = new
    return bytes(data)


def test_a_colour_space_name_with_control_characters_is_quoted_on_one_line(
    cli: Any, tmp_path: Path
) -> None:
    """Seed 236 of the long run: a newline in the clean plate's colorInteropID split the error
    in two lines; an escape would have reached the terminal."""
    from bgmatte.plugin import colour

    plate, clean, out = tmp_path / "plate.exr", tmp_path / "clean.exr", tmp_path / "out.exr"
    plate.write_bytes(_base("plate", True))
    clean.write_bytes(
        _with_attribute_bytes("clean", b"colorInteropID", "value", b"lin\nap1\x1b[2Jsc")
    )
    rc, stdout, err = cli("render", "--plate", str(plate), "--clean-plate", str(clean),
                          "--out", str(out))  # fmt: skip
    assert (rc, stdout) == (2, "")
    assert err == (
        f"bgmatte: error: clean_plate {clean}: the file declares colour space "
        "'lin\ufffdap1\ufffd[2Jsc', "
        f"unknown in OCIO config {colour.config_name()}; set the input's colour space "
        "explicitly\n"
    )
    assert not out.exists()


def test_library_error_text_quoting_the_header_prints_no_control_characters(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenEXR quotes a damaged attribute type in its error; an escape there reached stderr."""
    monkeypatch.chdir(tmp_path)
    Path("p.exr").write_bytes(_with_attribute_bytes("plate", b"lineOrder", "type", b"li\x1beOrder"))
    Path("c.exr").write_bytes(_base("clean", True))
    rc, stdout, err = cli("render", "--plate", "p.exr", "--clean-plate", "c.exr", "--out", "o.exr")
    assert (rc, stdout) == (2, "")
    assert err.startswith("bgmatte: error: plate: cannot read p.exr (")
    assert err.endswith("); re-export the file; it looks truncated or corrupt\n")
    assert err.count("\n") == 1 and not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", err), err
    if oiio.__version__.startswith("3.2."):  # OpenEXR's own words, as this version has them
        assert err == (
            "bgmatte: error: plate: cannot read p.exr (EXR Error: "
            "EXR_ERR_ATTR_TYPE_MISMATCH Required attribute 'lineOrder': Invalid type "
            "'li\ufffdeOrder'); re-export the file; it looks truncated or corrupt\n"
        )
    assert sorted(os.listdir(".")) == ["c.exr", "p.exr"]


def test_a_long_path_leaves_room_for_the_reason(cli: Any, tmp_path: Path) -> None:
    """OpenEXR's text repeats the path (``EXR Error (<path>): ...``); with a farm-length path
    the 160 characters kept of it held the path twice and cut the reason off."""
    folder = tmp_path / ("show_seq010_shot0420_plate_v003_" * 3)
    folder.mkdir()
    plate, out = folder / "plate.1001.exr", tmp_path / "out.exr"
    plate.write_bytes(_base("plate", True)[:110])  # ends inside the channel list
    (tmp_path / "clean.exr").write_bytes(_base("clean", True))
    rc, stdout, err = cli("render", "--plate", str(plate), "--clean-plate",
                          str(tmp_path / "clean.exr"), "--out", str(out))  # fmt: skip
    assert (rc, stdout) == (2, "")
    assert err.count(str(plate)) == 1, err
    if oiio.__version__.startswith("3.2."):
        assert err == (
            f"bgmatte: error: plate: cannot read {plate} (EXR Error: EXR_ERR_ATTR_SIZE_MISMATCH "
            "Attribute 'channels', type 'chlist': Invalid size 55); "
            "re-export the file; it looks truncated or corrupt\n"
        )
    assert not out.exists()
