"""The process entry point: runs the Typer app and maps every error to one line and a code.

This is the one place that turns exceptions into exit codes, so no command prints a
traceback and every command exits the same way for the same kind of error.
"""

from __future__ import annotations

import os
import sys

import click

from cardtrace.cli.app import app
from cardtrace.errors import (
    AccessDenied,
    CardtraceError,
    InvalidInput,
    NotFound,
    PolicyViolation,
    TamperDetected,
)

__all__ = ["EXIT_CODES", "main"]

#: Exit codes by error class (the first matching class wins). 1 is reserved for
#: "finished, but some records were rejected" (``cardtrace ingest``).
EXIT_CODES: list[tuple[type[CardtraceError], int]] = [
    (InvalidInput, 2),
    (NotFound, 2),
    (AccessDenied, 3),
    (PolicyViolation, 3),
    (TamperDetected, 4),
    (CardtraceError, 2),
]
INTERNAL_ERROR = 70
#: Typer's exit code for Ctrl-C (SIGINT), as a shell gives it: 128 + 2.
INTERRUPTED = 130


def main() -> None:
    """Run ``cardtrace`` with ``sys.argv`` and exit with its code."""
    sys.exit(run())


def run(args: list[str] | None = None) -> int:
    """Run the app and return the exit code instead of exiting.

    Typer itself reports usage errors (exit 2) and ``--help``, and turns Ctrl-C into
    exit 130, which gets its one line here; everything the commands raise comes out here
    and is mapped by :data:`EXIT_CODES`.
    """
    try:
        app(args=args, prog_name="cardtrace")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
        if code == INTERRUPTED:
            # Every write is a transaction: what had committed stays, the rest is undone.
            _say(
                "interrupted; finished transactions are kept, the rest is undone "
                "(an ingest run again stores only what is missing)"
            )
        return code
    except CardtraceError as exc:
        _say(str(exc))
        return next(code for kind, code in EXIT_CODES if isinstance(exc, kind))
    except Exception as exc:
        if os.environ.get("CARDTRACE_DEBUG"):
            raise
        _say(f"internal error ({type(exc).__name__}); set CARDTRACE_DEBUG=1 for details")
        return INTERNAL_ERROR
    return 0


def _say(message: str) -> None:
    click.echo(f"cardtrace: {message}", err=True)
