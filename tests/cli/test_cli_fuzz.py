"""Random command lines: every one ends in an answer or a one-line error, never a crash.

The command lines are built from the real command tree (every command, option and flag)
and values chosen to break things: empty text, numbers out of range, paths that are
folders, files of another kind or places no file can be made, database URLs of every
sort, text that is not valid UTF-8 as Linux passes it (surrogate escapes). A run may
succeed or fail, but a failure is one line naming the problem, with a documented exit
code; an error no command expected shows as "internal error" or, for an operating-system
error that reached the top, "input/output error" (output here goes to memory, which
cannot fail), and the test refuses both.
"""

from __future__ import annotations

import io
import re
import resource
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import factories as make
from cardtrace.cli.app import app
from cardtrace.cli.main import run
from cardtrace.settings import Settings

#: Exit codes a command may give (docs: README, cli/main.py); 70 is an internal error.
DOCUMENTED = {0, 1, 2, 3, 4}
#: Commands that would take long or wipe a folder for any values: run elsewhere.
SLOW = {"demo"}


def _leaves(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from _leaves(sub, (*path, name))


COMMANDS = [
    (path, command)
    for path, command in _leaves(typer.main.get_command(app), ())
    if path[0] not in SLOW
]

VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "-",
            "0",
            "-1",
            "3",
            "10000001",
            "99999999999999999999999",
            "nan",
            ".",
            "..",
            "/",
            "/proc/x",
            "/proc/keys",
            "/dev/null",
            "/dev/full",
            "/dev/zero",
            "events.jsonl",
            "events.jsonl/x",
            "missing.json",
            "not-json.json",
            "sqlite:///fuzz.db",
            "sqlite://",
            "sqlite:////proc/x.db",
            "postgresql://nobody@127.0.0.1:1/none",
            "mysql://x",
            "::",
            "cmcc",
            "cardtrace/local+00000000+AAAA",
            "\udcff\udcfe",  # bytes that are not UTF-8, as Python decodes argv
            "名字",
            "a" * 5000,
        ]
    ),
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=12),
)


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    path, command = draw(st.sampled_from(COMMANDS))
    words = list(path)
    for _ in range(draw(st.integers(0, 5))):
        param = draw(st.sampled_from([None, *command.params]))
        if param is None or param.param_type_name == "argument":
            words.append(draw(VALUES))
        elif param.is_flag:
            words.append(param.opts[0])
        else:
            words += [param.opts[0], draw(VALUES)]
    return words


@pytest.fixture
def fuzz_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # One level down, so that ".." is a folder of this test's alone, not the folder of
    # every test's files (a run would ingest whatever other tests left there).
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    for name in Settings.model_fields:
        monkeypatch.delenv(f"CARDTRACE_{name.upper()}", raising=False)
    (home / "events.jsonl").write_bytes(orjson.dumps(make.card_sold(source_id="1")) + b"\n{oops\n")
    (home / "not-json.json").write_bytes(b"\xff\xfe not json")
    return home


@pytest.fixture(scope="module")
def bounded_memory() -> Iterator[None]:
    """Address space capped at 4 GiB above the current size while the module runs, so a
    command that reads without bound (``verify-bundle /dev/full`` once did) fails its
    example with MemoryError, an internal error, instead of the kernel killing the run."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    status = Path("/proc/self/status").read_text()
    size = next(int(line.split()[1]) for line in status.splitlines() if line[:7] == "VmSize:")
    resource.setrlimit(resource.RLIMIT_AS, (size * 1024 + (4 << 30), hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=command_lines())
def test_any_command_line_ends_in_an_answer_or_one_line_error(
    bounded_memory: None,
    fuzz_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code = run(argv)
    out, err = capsys.readouterr()
    assert code in DOCUMENTED, (argv, code, err)
    assert "Traceback" not in err, argv
    assert "internal error" not in err, (argv, err)
    assert "input/output error" not in err, (argv, err)
    if code not in {0, 1} and not _unread_files_named(argv, code, out):
        last = err.rstrip("\n").splitlines()[-1] if err.strip() else ""
        assert last.startswith("cardtrace: ") or "Usage:" in err, (argv, err)


def _unread_files_named(argv: list[str], code: int, out: str) -> bool:
    """An ingest's exit 2 for a file not read to the end: its summary says so, not stderr."""
    told = "Not read to the end" in out or re.search(r'"incomplete_files":[1-9]', out)
    return argv[0] == "ingest" and code == 2 and bool(told)
