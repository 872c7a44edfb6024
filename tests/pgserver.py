"""A throwaway PostgreSQL server on 127.0.0.1, for the tests and the benchmarks.

Started the way ../shared/MEASURED.md describes: PostgreSQL refuses to run as root, so
as root every server command runs as the ``postgres`` user via ``runuser``, from ``/``
(postgres cannot read root's home), with the server's output in a log file (an inherited
pipe would make the caller wait for the server to exit). Stopped and removed on exit,
also when the caller fails.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["throwaway_postgres"]


class PostgresMissing(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise PostgresMissing("PostgreSQL binaries missing: run scripts/system-deps as root")
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(*command: str, check: bool = True) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*prefix, *command],
        cwd="/",
        check=check,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Start a server; yield the URL of its ``postgres`` database; stop and delete it."""
    bindir = _bindir()
    folder = Path(tempfile.mkdtemp(prefix="cardtrace-pg."))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, log, port = folder / "data", folder / "server.log", _free_port()
    pg_ctl = (str(bindir / "pg_ctl"), "-D", str(data))
    options = f"-p {port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        _as_postgres(
            str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        _as_postgres(*pg_ctl, "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        _as_postgres(*pg_ctl, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)
