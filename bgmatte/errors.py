"""The project's own error type.

Every bad input raises :class:`BgmatteError` with a one-line message that names the input,
says what was wrong and what to do (DESIGN.md, "Conventions"). Hosts turn it into their own
error channel: the command line prints it on stderr and exits non-zero, OpenFX posts it
through the message suite.
"""

from __future__ import annotations


class BgmatteError(Exception):
    """Bad input or a failed stage, with a message an artist can act on.

    ``str(err)`` is ``"<input>: <problem>; <fix>"``.
    """

    def __init__(self, input_name: str, problem: str, fix: str) -> None:
        self.input_name = input_name
        self.problem = problem
        self.fix = fix
        super().__init__(f"{input_name}: {problem}; {fix}")


class AlignmentWarning(UserWarning):
    """The clean plate could not be aligned to the plate and is used unaligned.

    The message says what went wrong (too few matches, a large residual) and what to do.
    """


class RenderAborted(Exception):
    """The host asked the render to stop (OpenFX abort, a cancelled progress bar). Not an
    error: hosts stop quietly and nothing is cached or written."""
