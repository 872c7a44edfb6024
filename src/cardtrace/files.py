"""Files a user names: reading a small one whole, and writing one cardtrace makes.

Reading: an evidence bundle, a key or a settings file is a few kilobytes, but the name
may be wrong: ``/dev/zero``, a device, or a 10 GB file named by mistake would fill memory
if read whole. :func:`read_small` reads at most a limit and refuses the rest, as an
:class:`OSError` the caller reports as it reports a file it cannot read.

Writing: a file cardtrace writes (a rejects file, an evidence bundle, a signed
checkpoint) replaces only an empty file or an earlier file of its own :class:`FileKind`,
told by its content, so a mistyped name cannot destroy the database, a key or an input.
:func:`check_output` refuses a path before any work is done, naming the file and why;
:func:`write_whole` then writes the file whole or not at all.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cardtrace.errors import InvalidInput

__all__ = ["FileKind", "check_output", "make_a_file_in", "read_small", "write_whole"]


def read_small(path: Path, limit: int) -> bytes:
    """The bytes of ``path``; ``OSError`` (``EFBIG``) if it holds more than ``limit``."""
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"it holds more than {limit:,} bytes, far more than it should")
    return data


def make_a_file_in(folder: Path) -> None:
    """Make a file in ``folder`` and remove it again; ``OSError`` if none can be made.

    Permission bits alone would not tell: ``root``, which runs these machines, passes
    every ``os.access`` check, yet cannot create a file in ``/proc`` or on a read-only
    mount.
    """
    descriptor, temporary = tempfile.mkstemp(prefix=".cardtrace-check.", dir=folder)
    os.close(descriptor)
    os.unlink(temporary)


@dataclass(frozen=True, slots=True)
class FileKind:
    """A kind of file cardtrace writes, and how an earlier one is told by its start."""

    what: str  # as messages name it: "evidence bundle"
    article: str  # "an"
    option: str  # the option that names the file: "--out"
    #: Whether the first ``sniff`` bytes of a non-empty file are the start of one.
    holds: Callable[[bytes], bool]
    sniff: int
    #: A stream is written as it goes, so a device or a pipe (``/dev/null``) may take
    #: it; a file written whole replaces a regular file and nothing else.
    stream: bool = False


def check_output(path: Path, kind: FileKind) -> None:
    """Refuse, before any work, a path that holds anything but nothing, an empty file or
    a ``kind`` file (a folder; a device or a pipe unless ``kind`` is a stream), or where
    no file can be written (a file is made in its folder and removed again)."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # nothing there (or a link to nothing, which is what gets replaced)
    except OSError as exc:
        raise _cannot(path, kind, exc) from None
    if mode is not None and not stat.S_ISREG(mode):
        if kind.stream and not stat.S_ISDIR(mode):
            _open_for_appending(path, kind)
            return
        raise InvalidInput(
            f"cannot write the {kind.what} {path}: it is {_not_a_file(mode)}; "
            f"name a file with {kind.option}"
        )
    if mode is not None and not _holds(path, kind):
        raise InvalidInput(
            f"{path} exists and is not {kind.article} {kind.what}, which would be "
            f"overwritten; name another file with {kind.option}"
        )
    if not path.parent.is_dir():
        raise InvalidInput(f"cannot write the {kind.what} {path}: no folder {path.parent}")
    try:
        make_a_file_in(path.parent)
    except OSError as exc:
        raise _cannot(path, kind, exc) from None


def write_whole(path: Path, data: bytes, kind: FileKind) -> None:
    """Write ``data`` to ``path`` whole or not at all, if :func:`check_output` allows.

    The bytes go to a new file beside it, which then takes its name (``os.replace``):
    a run stopped or failing half-way leaves the old file as it was, and no part of the
    new one under its name. A replaced file's permissions carry over to the new one.
    """
    check_output(path, kind)
    descriptor, temporary = _create_beside(path, kind)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            _keep_permissions(path, handle.fileno())
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        raise _cannot(path, kind, exc) from None
    finally:
        temporary.unlink(missing_ok=True)  # gone once it took its name


def _cannot(path: Path, kind: FileKind, exc: OSError) -> InvalidInput:
    return InvalidInput(f"cannot write the {kind.what} {path}: {exc.strerror}")


def _not_a_file(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def _holds(path: Path, kind: FileKind) -> bool:
    """Whether a regular file is empty or starts as a ``kind`` file does."""
    try:
        with path.open("rb") as handle:
            start = handle.read(kind.sniff)
    except OSError as exc:
        raise InvalidInput(
            f"{path} exists and cannot be read to tell whether it is {kind.article} "
            f"{kind.what} ({exc.strerror}); name another file with {kind.option}"
        ) from None
    return not start or kind.holds(start)


def _open_for_appending(path: Path, kind: FileKind) -> None:
    """Check a device or a pipe opens for writing; appending changes nothing in it."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # a pipe no one reads yet, which the run will open
            raise _cannot(path, kind, exc) from None
    else:
        os.close(descriptor)


def _create_beside(path: Path, kind: FileKind) -> tuple[int, Path]:
    """A new file in the folder of ``path``, with the permissions a plain write gives."""
    temporary = path.with_name(f".cardtrace-{secrets.token_hex(4)}.tmp")  # fits any name
    try:
        return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
    except OSError as exc:
        raise _cannot(path, kind, exc) from None


def _keep_permissions(path: Path, descriptor: int) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return  # a new file keeps the permissions a plain write gives
    os.fchmod(descriptor, stat.S_IMODE(mode))
