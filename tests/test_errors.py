"""bgmatte.errors: one message, each host's spelling of the parameters it names."""

from __future__ import annotations

import pytest

from bgmatte.errors import BgmatteError, param
from bgmatte.host_bridge.cli import cli_spelling
from bgmatte.host_bridge.ofx_bridge import error_message


@pytest.fixture
def err() -> BgmatteError:
    return BgmatteError(
        "plate",
        "2 pixels are NaN or Inf",
        f"set {param('nan')} to 'zero' or pick other {param('passes')}",
    )


def test_python_spells_the_keyword(err: BgmatteError) -> None:
    assert str(err) == "plate: 2 pixels are NaN or Inf; set nan to 'zero' or pick other passes"
    assert err.fix == "set nan to 'zero' or pick other passes"


def test_command_line_spells_the_flag(err: BgmatteError) -> None:
    assert err.spelled(cli_spelling) == (
        "plate: 2 pixels are NaN or Inf; set --nan to 'zero' or pick other --pass"
    )


def test_openfx_spells_the_label(err: BgmatteError) -> None:
    assert error_message(err) == (
        "bgmatte: plate: 2 pixels are NaN or Inf; set parameter 'NaN policy' to 'zero' or pick "
        "other parameter 'Output'"
    )


def test_naming_keeps_the_spelling(err: BgmatteError) -> None:
    named = err.naming("plate shot.0001.exr")
    assert named.spelled(cli_spelling) == (
        "plate shot.0001.exr: 2 pixels are NaN or Inf; set --nan to 'zero' or pick other --pass"
    )


def test_a_param_as_the_input_name() -> None:
    bad = BgmatteError(param("shift_tolerance"), "7 is outside 0..3", "pass a value in range")
    assert bad.input_name == "shift_tolerance"
    assert (
        bad.spelled(cli_spelling) == "--shift-tolerance: 7 is outside 0..3; pass a value in range"
    )


def test_library_text_replaces_what_is_not_text() -> None:
    from bgmatte.errors import library_call, library_text

    assert library_text(b"ok \xff") == "ok \ufffd"
    assert library_text("caf\udce9") == "caf\ufffd"  # bytes Python decoded to a surrogate
    assert library_text("plain") == "plain"

    def undecodable() -> str:
        raise UnicodeDecodeError("utf-8", b"bad \xfe", 4, 5, "invalid start byte")

    assert library_call(undecodable) == "bad \ufffd"
