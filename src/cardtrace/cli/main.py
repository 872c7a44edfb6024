"""The process entry point: runs the Typer app and maps every error to one line and a code.

This is the one place that turns exceptions into exit codes, so no command prints a
traceback and every command exits the same way for the same kind of error. SIGTERM
(``kill``, a service manager stopping the command) ends a command as Ctrl-C does: it
unwinds, so transactions roll back and worker processes are stopped.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import typer

from cardtrace.cli.app import app
from cardtrace.errors import (
    AccessDenied,
    CardtraceError,
    InvalidInput,
    NotFound,
    PolicyViolation,
    TamperDetected,
)
from cardtrace.text import OUTPUT_ERRORS, printable

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
USAGE = 2
#: As Typer exits when standard output is a pipe closed by its reader.
BROKEN_PIPE = 1
INTERNAL_ERROR = 70
#: Typer's exit code for Ctrl-C (SIGINT), as a shell gives it: 128 + 2.
INTERRUPTED = 130
#: The exit code for SIGTERM, as a shell gives it: 128 + 15.
TERMINATED = 128 + signal.SIGTERM
#: What became of the work when a command is stopped: every write is a transaction.
_STOPPED = (
    "finished transactions are kept, the rest is undone "
    "(an ingest run again stores only what is missing)"
)


class _Terminated(BaseException):
    """SIGTERM arrived: raised where the command is, so it unwinds as on Ctrl-C.

    A ``BaseException``, as ``KeyboardInterrupt`` is, so that no ``except Exception``
    on the way takes it for an error of its own.
    """


def main() -> None:
    """Run ``cardtrace`` with ``sys.argv`` and exit with its code."""
    sys.exit(run())


def run(args: list[str] | None = None) -> int:
    """Run the app and return the exit code instead of exiting.

    Typer prints ``--help`` and turns Ctrl-C into exit 130, which gets its one line here,
    as SIGTERM (exit 143) does; a usage error gets its one line here too (Typer would
    print a usage box), and everything the commands raise is mapped by
    :data:`EXIT_CODES`.
    """
    _escape_undecodable_output()
    try:
        with _sigterm_unwinds():
            result = app(args=args, prog_name="cardtrace", standalone_mode=False)
            sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
    except _Terminated:
        _say(f"terminated; {_STOPPED}")
        return TERMINATED
    except SystemExit as exc:  # a command that exits by itself
        return exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:
        return _failure(exc)
    code = result if isinstance(result, int) else 0  # a command's typer.Exit(code)
    if code == INTERRUPTED:
        _say(f"interrupted; {_STOPPED}")
    return code


def _escape_undecodable_output() -> None:
    """Let standard output and error write any text, names of any bytes included.

    Python reads bytes of an argument or file name that are not UTF-8 as lone surrogates;
    written out, they would stop the command with an encoding error under a strict
    locale, or reach the terminal raw under a lax one. Escaped, they read as the rejects
    file writes them.
    """
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors != OUTPUT_ERRORS:
            stream.reconfigure(errors=OUTPUT_ERRORS)


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`_Terminated` (once: later ones are ignored).

    Only the main thread may set a signal handler; elsewhere (a test runner's thread)
    SIGTERM keeps its usual action.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(_signal: int, _frame: FrameType | None) -> None:
    # A second SIGTERM must not cut short the unwinding the first one started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Terminated


def _failure(exc: Exception) -> int:
    """Say in one line what stopped the command, and give its exit code."""
    if isinstance(exc, CardtraceError):
        _say(str(exc))
        code = next(code for kind, code in EXIT_CODES if isinstance(exc, kind))
    elif isinstance(exc, typer.TyperException):  # bad usage: a missing or bad argument
        message = _usage_line(exc)
        if message:  # no arguments at all: Typer has printed the help, which says it all
            _say(message)
        code = int(getattr(exc, "exit_code", USAGE))
    elif isinstance(exc, typer.Abort):  # end of input at a prompt
        _say("aborted")
        code = USAGE
    elif isinstance(exc, BrokenPipeError):  # the reader left (`cardtrace schema | head`)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so exiting does not flush again
        code = BROKEN_PIPE
    elif isinstance(exc, OSError):  # an I/O error no command expects: output that fails
        where = f"{exc.filename}: " if exc.filename is not None else ""
        _say(f"input/output error: {where}{exc.strerror or exc}")
        code = USAGE
    else:
        if os.environ.get("CARDTRACE_DEBUG"):
            raise exc
        _say(f"internal error ({type(exc).__name__}); set CARDTRACE_DEBUG=1 for details")
        code = INTERNAL_ERROR
    return code


def _usage_line(exc: typer.TyperException) -> str:
    """A usage error in one line, with the command it concerns and where help is."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(message.split()).removesuffix(".")
    if not message:
        return ""
    context = getattr(exc, "ctx", None)
    command = context.command_path if context is not None else "cardtrace"
    return f"{message} (see '{command} --help')"


def _say(message: str) -> None:
    typer.echo(f"cardtrace: {printable(message)}", err=True)  # one line, whatever it names
