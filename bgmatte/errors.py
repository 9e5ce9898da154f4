"""The project's own error types: a leaf module that every part of bgmatte may import.

Every bad input raises :class:`BgmatteError` with a one-line message that names the input,
says what was wrong and what to do (DESIGN.md, "Conventions"). Hosts turn it into their own
error channel: the command line prints it on stderr and exits non-zero, OpenFX posts it
through the message suite.

A message names a parameter through :func:`param`, never by one host's spelling of it; each
host renders the message with :meth:`BgmatteError.spelled` (``--nan`` on the command line,
"NaN policy" in OpenFX, ``nan`` in Python).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_PARAM = re.compile(r"\{param:(\w+)\}")


def param(name: str) -> str:
    """``name`` (a node param, or a host argument such as ``passes`` or ``device``) as a
    message carries it, for each host to spell in its own way."""
    return "{param:" + name + "}"


def library_text(value: object) -> str:
    """Text from a library (an OpenImageIO error, an OCIO message, a file's header attribute)
    as printable UTF-8: undecodable bytes, and the lone surrogates Python decodes them to,
    become U+FFFD. Every such text passes here before it reaches a message."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    text = str(value)
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


def library_call(get: Callable[[], object]) -> str:
    """:func:`library_text` of what ``get()`` returns; a binding that fails to decode its own
    text (``UnicodeDecodeError``) still yields that text, with replacements."""
    try:
        return library_text(get())
    except UnicodeDecodeError as exc:
        return library_text(exc.object)


def python_spelling(name: str) -> str:
    """How Python callers write a parameter: its keyword argument."""
    return name


def _spell(text: str, spell: Callable[[str], str]) -> str:
    return _PARAM.sub(lambda m: spell(m.group(1)), text)


class BgmatteError(Exception):
    """Bad input or a failed stage, with a message an artist can act on.

    ``str(err)`` is ``"<input>: <problem>; <fix>"`` with parameters spelled as Python
    keywords; :meth:`spelled` renders it for another host.
    """

    def __init__(self, input_name: str, problem: str, fix: str) -> None:
        self._parts = (input_name, problem, fix)
        self.input_name, self.problem, self.fix = (_spell(t, python_spelling) for t in self._parts)
        super().__init__(self.spelled(python_spelling))

    def spelled(self, spell: Callable[[str], str]) -> str:
        """The message with every parameter named as ``spell(name)`` spells it."""
        input_name, problem, fix = self._parts
        return _spell(f"{input_name}: {problem}; {fix}", spell)

    def naming(self, input_name: str) -> BgmatteError:
        """The same error about ``input_name`` (a more precise name: the file, the frame)."""
        return BgmatteError(input_name, *self._parts[1:])


class BgmatteWarning(UserWarning):
    """Something an artist should know, not bad enough to stop: one line that says what and
    what to do, naming parameters through :func:`param` as errors do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self._text = message

    def __str__(self) -> str:
        return _spell(self._text, python_spelling)

    def spelled(self, spell: Callable[[str], str]) -> str:
        """The message with every parameter named as ``spell(name)`` spells it."""
        return _spell(self._text, spell)


class AlignmentWarning(BgmatteWarning):
    """The clean plate could not be aligned to the plate and is used unaligned.

    The message says what went wrong (too few matches, a large residual) and what to do.
    """


class ColourSpaceWarning(BgmatteWarning):
    """Inputs of one frame are read as different colour spaces (each as its file declares),
    which a plate and its clean plate from one camera rarely are."""


class RenderAborted(Exception):
    """The host asked the render to stop (OpenFX abort, a cancelled progress bar). Not an
    error: hosts stop quietly and nothing is cached or written."""
