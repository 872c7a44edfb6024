"""The command line as users script against it: outputs, exit codes, one-line errors."""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer

import factories as make
from cardtrace import sim
from cardtrace.cli import options
from cardtrace.cli.app import app
from cardtrace.cli.main import run
from cardtrace.errors import ConfigurationError
from cardtrace.store import migrate
from cardtrace.store.database import AppendResult, Database
from cardtrace.store.engine import open_engine
from cardtrace.store.rows import EventBatch


@pytest.fixture(autouse=True)
def node_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs in its own folder: default database and keys land there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARDTRACE_DATABASE_URL", raising=False)
    return tmp_path


def events_file(path: Path, *lines: bytes | dict[str, object]) -> Path:
    path.write_bytes(
        b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines)
    )
    return path


def last_json(text: str) -> dict[str, object]:
    result: dict[str, object] = orjson.loads(text.strip().splitlines()[-1])
    return result


def test_ingest_json_summary_and_exit_0(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"))
    assert run(["ingest", "--json", str(path)]) == 0
    summary = last_json(capsys.readouterr().out)
    assert (summary["accepted"], summary["duplicates"], summary["rejected"]) == (1, 0, 0)
    assert (node_home / "cardtrace.db").exists()


def test_ingest_reads_standard_input_from_a_pipe_in_one_process(node_home: Path) -> None:
    # A real pipe (no size, no seeking), and a setting asking for worker processes,
    # which cannot share standard input: the run reads it itself.
    records = [make.card_sold(source_id=str(n)) for n in range(5)]
    path = events_file(node_home / "a.jsonl", *records, b"{oops")
    environment = {**os.environ, "CARDTRACE_INGEST_WORKERS": "2"}
    command = [sys.executable, "-m", "cardtrace", "ingest", "--json"]
    piped = subprocess.run(
        [*command, "-"],
        input=gzip.compress(path.read_bytes()),
        capture_output=True,
        env=environment,
        check=False,
    )
    assert piped.returncode == 1, piped.stderr
    summary = last_json(piped.stdout.decode())
    assert (summary["accepted"], summary["rejected"]) == (5, 1)
    (reject,) = (node_home / "rejects.jsonl").read_bytes().splitlines()
    assert orjson.loads(reject)["file"] == "-"
    assert orjson.loads(reject)["line"] == 6
    again = subprocess.run([*command, str(path)], capture_output=True, env=environment, check=False)
    assert last_json(again.stdout.decode())["duplicates"] == 5


def test_ingest_reads_pipes_of_process_substitution_beside_files(node_home: Path) -> None:
    # What a shell user writes: `cardtrace ingest <(zcat a.jsonl.gz) <(cat b.csv) c.jsonl`.
    # The pipes are read by the ingest process while the file may go to workers.
    first = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"), b"{oops")
    second = events_file(node_home / "b.jsonl", make.card_sold(source_id="2"))
    third = events_file(node_home / "c.jsonl", make.card_sold(source_id="3"))
    gzip_first = node_home / "a.jsonl.gz"
    gzip_first.write_bytes(gzip.compress(first.read_bytes()))
    script = (
        f'"{sys.executable}" -m cardtrace ingest --json'
        f' <(zcat "{gzip_first}") <(cat "{second}") "{third}"'
    )
    environment = {**os.environ, "CARDTRACE_INGEST_WORKERS": "2"}
    done = subprocess.run(["bash", "-c", script], capture_output=True, env=environment, check=False)
    assert done.returncode == 1, done.stderr
    summary = last_json(done.stdout.decode())
    assert (summary["files"], summary["accepted"], summary["rejected"]) == (3, 3, 1)
    (reject,) = (node_home / "rejects.jsonl").read_bytes().splitlines()
    assert orjson.loads(reject)["file"].startswith("/dev/fd/")
    assert orjson.loads(reject)["line"] == 2
    again = subprocess.run(
        [sys.executable, "-m", "cardtrace", "ingest", "--json", str(first), str(second)],
        capture_output=True,
        env=environment,
        check=False,
    )
    assert last_json(again.stdout.decode())["duplicates"] == 2


def test_standard_input_named_twice_under_two_names_is_refused(node_home: Path) -> None:
    command = [sys.executable, "-m", "cardtrace", "ingest", "-", "/dev/stdin"]
    done = subprocess.run(command, input=b"", capture_output=True, check=False)
    assert done.returncode == 2
    assert done.stderr == (
        b"cardtrace: /dev/stdin: standard input can be read only once (also as -)\n"
    )
    assert sorted(p.name for p in node_home.iterdir()) == []  # nothing made


def test_an_export_in_gb18030_is_stored_as_the_same_records_in_utf8(node_home: Path) -> None:
    # Names in GB18030, as Excel on a Chinese Windows saves CSV, read by two workers.
    names = ["测试甲", "测试乙", "王芳"]
    rows = [make.card_recycled(source_id=str(n), seller_name=name) for n, name in enumerate(names)]
    as_utf8 = events_file(node_home / "utf8.jsonl", *rows)
    as_gb = node_home / "gb.jsonl"
    as_gb.write_bytes(as_utf8.read_text(encoding="utf-8").encode("gb18030"))
    environment = {**os.environ, "CARDTRACE_INGEST_WORKERS": "2"}
    command = [sys.executable, "-m", "cardtrace", "ingest", "--json"]

    def ingest(*arguments: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*command, *arguments], capture_output=True, env=environment, check=False
        )

    refused = ingest(str(as_gb))  # as UTF-8: every record refused, with a hint
    assert refused.returncode == 1
    (reject, *_) = (node_home / "rejects.jsonl").read_bytes().splitlines()
    assert "name --encoding gb18030" in orjson.loads(reject)["reason"]
    stored = ingest("--encoding", "GB18030", str(as_gb))
    assert stored.returncode == 0, stored.stderr
    assert last_json(stored.stdout.decode())["accepted"] == 3
    # The same values: the UTF-8 file is all re-sends, none a conflict.
    again = last_json(ingest(str(as_utf8)).stdout.decode())
    assert (again["duplicates"], again["conflicts"], again["rejected"]) == (3, 0, 0)


def test_an_encoding_the_readers_cannot_use_is_refused_before_anything_is_made(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = events_file(node_home / "a.jsonl", make.card_sold())
    assert run(["ingest", "--encoding", "utf-16", str(path)]) == 2
    assert capsys.readouterr().err.startswith(
        "cardtrace: encoding 'utf-16' does not keep ASCII bytes"
    )
    assert sorted(p.name for p in node_home.iterdir()) == ["a.jsonl"]


def test_a_dry_run_creates_nothing_and_answers_as_the_ingest_would(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"), b"{oops")
    assert run(["ingest", "--dry-run", "--json", str(path)]) == 1
    summary = last_json(capsys.readouterr().out)
    assert (summary["dry_run"], summary["accepted"], summary["rejected"]) == (True, 1, 1)
    # No database, no keys: only the input and the rejects file it describes.
    assert sorted(p.name for p in node_home.iterdir()) == ["a.jsonl", "rejects.jsonl"]
    assert run(["ingest", "--json", str(path)]) == 1
    assert last_json(capsys.readouterr().out) == {**summary, "dry_run": False}
    assert run(["ingest", "--dry-run", str(path)]) == 1
    assert "Dry run" in capsys.readouterr().out


def test_an_ingest_stopped_by_an_error_prints_what_its_finished_transactions_stored(
    node_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [make.card_sold(source_id=str(n), serial=make.serial(n)) for n in range(5)]
    path = events_file(node_home / "a.jsonl", *records)
    opened = Database.appending
    transactions, fail_at = 0, 3

    @contextmanager
    def failing(self: Database) -> Iterator[Callable[[EventBatch], AppendResult]]:
        nonlocal transactions
        transactions += 1
        if transactions == fail_at:
            raise ConfigurationError("the database connection was lost")
        with opened(self) as append:
            yield append

    monkeypatch.setattr(Database, "appending", failing)
    monkeypatch.setenv("CARDTRACE_BATCH_SIZE", "2")  # a transaction per two events
    monkeypatch.setenv("CARDTRACE_INGEST_WORKERS", "0")
    assert run(["ingest", "--json", str(path)]) == 2
    out, err = capsys.readouterr()
    summary = last_json(out)
    assert (summary["stopped"], summary["accepted"], summary["rejected"]) == (True, 4, 0)
    assert err == "cardtrace: the database connection was lost\n"
    transactions = 0
    assert run(["ingest", str(path)]) == 2
    assert "Ingest stopped" in capsys.readouterr().out
    transactions, fail_at = 0, 0
    assert run(["ingest", "--json", str(path)]) == 0
    again = last_json(capsys.readouterr().out)
    assert (again["stopped"], again["accepted"], again["duplicates"]) == (False, 1, 4)


def test_a_dry_run_leaves_an_old_schema_alone_and_migrate_brings_it_up_to_date(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = open_engine("sqlite:///cardtrace.db")
    migrate.upgrade(engine, "0004")
    path = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"))
    assert run(["ingest", "--dry-run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "schema is at revision 0004" in err
    assert "'cardtrace migrate'" in err
    current, head = migrate.revisions(engine)
    assert current == "0004"
    assert run(["migrate", "--json"]) == 0
    assert last_json(capsys.readouterr().out) == {"before": "0004", "after": head}
    assert migrate.revisions(engine) == (head, head)
    assert run(["migrate"]) == 0
    assert f"up to date: revision {head}" in capsys.readouterr().out
    assert run(["ingest", "--dry-run", "--json", str(path)]) == 0
    assert last_json(capsys.readouterr().out)["accepted"] == 1
    engine.dispose()


def test_migrate_goes_back_for_an_older_cardtrace_and_asks_before_throwing_data_away(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"))
    assert run(["ingest", str(path)]) == 0
    engine = open_engine("sqlite:///cardtrace.db")
    head = migrate.revisions(engine)[1]
    capsys.readouterr()
    assert run(["migrate", "--to", "0004", "--json"]) == 0
    assert last_json(capsys.readouterr().out) == {"before": head, "after": "0004"}
    assert run(["migrate", "--to", "0001"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "would throw away stored data: the digests" in err
    assert "cosignatures" in err
    assert "--discard" in err
    assert migrate.revisions(engine)[0] == "0004"  # nothing changed
    assert run(["migrate", "--to", "0042"]) == 2
    assert "no schema revision '0042'" in capsys.readouterr().err
    assert run(["migrate", "--to", "0001", "--discard"]) == 0
    assert "Schema moved: revision 0004 -> 0001." in capsys.readouterr().out
    assert run(["migrate", "--to", "0001"]) == 0
    assert "The schema is already at revision 0001." in capsys.readouterr().out
    assert run(["ingest", "--json", str(path)]) == 0  # opened: brought up to date again
    assert last_json(capsys.readouterr().out)["duplicates"] == 1
    assert migrate.revisions(engine) == (head, head)
    engine.dispose()


def test_ingest_exit_1_when_some_records_are_rejected(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"), b"{oops")
    rejects = node_home / "bad.jsonl"
    assert run(["ingest", "--json", "--rejects", str(rejects), str(path)]) == 1
    assert last_json(capsys.readouterr().out)["rejected"] == 1
    (line,) = rejects.read_bytes().splitlines()
    assert set(orjson.loads(line)) >= {"file", "line", "field", "reason"}


def test_ingest_exit_2_for_unreadable_input_with_one_line(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["ingest", str(node_home / "missing.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no such file or folder" in err
    assert "Traceback" not in err


def test_ingest_exit_2_when_a_file_breaks_part_way_and_the_other_files_are_stored(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = events_file(node_home / "good.jsonl", make.card_sold(source_id="g"))
    lines = events_file(
        node_home / "cut.jsonl", *(make.card_sold(source_id=f"c{n}") for n in range(3))
    )
    cut = node_home / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(lines.read_bytes())[:-12])  # the trailer is missing
    lines.unlink()
    assert run(["ingest", str(cut), str(good)]) == 2
    out = capsys.readouterr().out
    assert "files not read to the end" in out
    assert f"Not read to the end: {cut}, line 1: the compressed data is corrupt or cut short" in (
        " ".join(out.split())
    )
    assert run(["stats", "--json"]) == 0
    assert last_json(capsys.readouterr().out)["events"] == 1
    (entry,) = map(orjson.loads, (node_home / "rejects.jsonl").read_bytes().splitlines())
    assert (entry["line"], entry["rest_of_file_unread"]) == (1, True)


def test_ingest_reports_files_of_other_types_and_a_folder_with_no_data(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = node_home / "in"
    folder.mkdir()
    (folder / "events.json").write_bytes(b"[]")
    assert run(["ingest", str(folder)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # long paths wrap
    assert "No data files found: cardtrace reads .csv, .jsonl, .ndjson, .parquet, .csv.gz" in out
    assert f"Not read (another type, or not a file): {folder / 'events.json'}" in out
    assert sorted(p.name for p in node_home.iterdir()) == ["in"]  # no database, no keys
    events_file(folder / "a.jsonl", make.card_sold(source_id="1"))
    events_file(folder / "truth.jsonl", make.card_sold(source_id="2"))
    assert run(["ingest", str(folder)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "│ ground-truth files skipped │ 1 │" in out
    assert f"Skipped as ground truth (name contains 'truth'): {folder / 'truth.jsonl'}" in out
    assert run(["ingest", "--json", str(folder)]) == 0
    summary = last_json(capsys.readouterr().out)
    counts = ("files", "ignored_files", "ground_truth_files", "accepted", "duplicates")
    assert [summary[name] for name in counts] == [1, 1, 1, 0, 1]


def test_file_names_in_the_summary_are_printed_as_they_are_not_as_markup(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = node_home / "in"
    folder.mkdir()
    for n in range(5):
        (folder / f"[bold]notes-{n}.txt").write_bytes(b"")
    (folder / "[red]truth.jsonl").write_bytes(b"")
    assert run(["ingest", str(folder)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    shown = ", ".join(str(folder / f"[bold]notes-{n}.txt") for n in range(3))
    assert f"Not read (another type, or not a file): {shown} and 2 more" in out
    assert f"Skipped as ground truth (name contains 'truth'): {folder / '[red]truth.jsonl'};" in out


def test_file_names_in_the_summary_show_on_one_line_with_no_terminal_controls(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = node_home / "in"
    folder.mkdir()
    (folder / os.fsdecode(b"a\nb\x1b[2J\xff.txt")).write_bytes(b"")
    assert run(["ingest", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "a\nb" not in out
    shown = f"{folder}/a\\x0ab\\x1b[2J\\xff.txt"
    assert f"Not read (another type, or not a file): {shown}" in " ".join(out.split())


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("no/r.jsonl", "no folder {home}/no"),
        # No file can be made in /proc, not even by root, whom permission bits let through.
        ("/proc/cardtrace-rejects.jsonl", "No such file or directory"),
    ],
)
def test_ingest_exit_2_when_the_rejects_file_cannot_be_written(
    node_home: Path, capsys: pytest.CaptureFixture[str], where: str, reason: str
) -> None:
    rejects = node_home / where
    path = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"), b"{oops")
    assert run(["ingest", "--rejects", str(rejects), str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"cardtrace: cannot write the rejects file {rejects}: {reason.format(home=node_home)}\n"
    )
    assert not (node_home / "cardtrace.db").exists()  # a refused run makes no database


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest"], "Missing argument 'PATH...' (see 'cardtrace ingest --help')"),
        (
            ["ingest", "--no-such-option", "x"],
            "No such option: --no-such-option (see 'cardtrace ingest --help')",
        ),
        (
            ["sim", "--cards", "0", "--out", "w"],
            "Invalid value for '--cards': 0 is not in the range 1<=x<=10000000 "
            "(see 'cardtrace sim --help')",
        ),
        (
            ["sim", "--seed", "-3", "--out", "w"],  # random would take it as the seed 3
            "Invalid value for '--seed': -3 is not in the range x>=0 (see 'cardtrace sim --help')",
        ),
        (["frobnicate"], "No such command 'frobnicate' (see 'cardtrace --help')"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert run(args) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"cardtrace: {message}\n")


def test_the_commands_allow_as_many_cards_as_the_simulator() -> None:
    assert options.MAX_CARDS == sim.MAX_CARDS


def test_help_gives_flags_no_value_and_names_arguments_plainly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["ingest", "--help"]) == 0
    text = capsys.readouterr().out
    flags = [line for line in text.splitlines() if "--dry-run" in line or "--help" in line]
    assert len(flags) == 2
    assert all("<" not in line for line in flags), flags  # as though a flag took a value
    assert "Usage: cardtrace ingest [OPTIONS] {PATH...}" in text


def _commands(command: Any, name: str) -> Iterator[tuple[str, Any]]:
    yield name, command
    for sub_name, sub in getattr(command, "commands", {}).items():  # a group's commands
        yield from _commands(sub, f"{name} {sub_name}")


def test_every_option_that_takes_a_value_names_it() -> None:
    """Help reads '--db URL', not the library's '--db <str>', for every command."""
    options = [
        (name, param)
        for name, command in _commands(typer.main.get_command(app), "cardtrace")
        for param in command.params
        if param.param_type_name == "option"
    ]
    assert len(options) > 30
    unnamed = [
        f"{name} {param.opts}" for name, param in options if not param.is_flag and not param.metavar
    ]
    assert unnamed == []
    # Typer makes a metavar equal to the parameter's name its flag: '--SERIAL'.
    assert all(flag.islower() for _, param in options for flag in param.opts)


def test_output_that_cannot_be_written_is_one_line_and_a_closed_pipe_is_quiet(
    node_home: Path,
) -> None:
    command = [sys.executable, "-m", "cardtrace", "schema"]
    with open("/dev/full", "wb") as full:
        done = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, check=False)
    assert (done.returncode, done.stderr) == (
        2,
        b"cardtrace: input/output error: No space left on device\n",
    )
    reader = subprocess.Popen(["true"], stdin=subprocess.PIPE)  # leaves without reading
    reader.wait()
    done = subprocess.run(command, stdout=reader.stdin, stderr=subprocess.PIPE, check=False)
    assert reader.stdin is not None
    reader.stdin.close()
    assert (done.returncode, done.stderr) == (1, b"")


def test_an_unexpected_operating_system_error_names_its_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing() -> None:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), "a" * 300)

    monkeypatch.setattr("cardtrace.service.event_schema", failing)
    assert run(["schema"]) == 2
    assert capsys.readouterr().err == (
        f"cardtrace: input/output error: {'a' * 300}: File name too long\n"
    )


def test_an_unexpected_error_is_one_line_unless_debugging(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("cardtrace.service.event_schema", broken)
    monkeypatch.delenv("CARDTRACE_DEBUG", raising=False)
    assert run(["schema"]) == 70
    assert capsys.readouterr().err == (
        "cardtrace: internal error (RuntimeError); set CARDTRACE_DEBUG=1 for details\n"
    )
    monkeypatch.setenv("CARDTRACE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="a bug"):
        run(["schema"])


def test_no_arguments_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([]) == 2
    captured = capsys.readouterr()
    assert "Usage: cardtrace [OPTIONS] COMMAND" in captured.out
    assert captured.err == ""


def test_db_option_beats_setting_beats_default(
    node_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"))
    monkeypatch.setenv("CARDTRACE_DATABASE_URL", f"sqlite:///{node_home / 'env.db'}")
    assert run(["ingest", str(path)]) == 0
    assert run(["ingest", "--db", f"sqlite:///{node_home / 'flag.db'}", str(path)]) == 0
    assert (node_home / "env.db").exists()
    assert (node_home / "flag.db").exists()
    assert not (node_home / "cardtrace.db").exists()


def test_a_bad_database_url_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["stats", "--db", "oracle://x"]) == 2
    assert "not supported" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        ["stats"],
        ["history", "--issuer", "cmcc", "--serial", "1"],
        ["checkpoint"],
        ["verify"],
        ["prove", "--event", "00000000-0000-4000-8000-000000000000"],
        ["consistency", "--from", "0"],
    ],
)
def test_commands_that_read_refuse_a_missing_database_instead_of_making_one(
    node_home: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    typo = node_home / "cardtrce.db"
    assert run([*command, "--db", f"sqlite:///{typo}"]) == 2
    err = capsys.readouterr().err
    assert err == f"cardtrace: no database at {typo}; 'cardtrace ingest' creates one, " + (
        "or name another with --db or CARDTRACE_DATABASE_URL\n"
    )
    assert list(node_home.iterdir()) == []  # no database, and no keys made for nothing


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
@pytest.mark.parametrize("rejects", [[], ["--rejects", "mine.jsonl"]])
def test_an_input_that_is_the_rejects_file_is_refused_and_left_alone(
    node_home: Path, capsys: pytest.CaptureFixture[str], dry_run: list[str], rejects: list[str]
) -> None:
    name = rejects[-1] if rejects else "rejects.jsonl"
    path = events_file(node_home / name, make.card_sold(source_id="1"), b"{oops")
    before = path.read_bytes()
    assert run(["ingest", *dry_run, *rejects, name]) == 2
    assert capsys.readouterr().err == (
        f"cardtrace: {name} is where this run writes its rejects; name another file with "
        "--rejects\n"
    )
    assert path.read_bytes() == before
    assert not (node_home / "cardtrace.db").exists()


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_a_rejects_path_naming_a_file_that_holds_no_rejects_is_refused_and_left_alone(
    node_home: Path, capsys: pytest.CaptureFixture[str], dry_run: list[str]
) -> None:
    folder = node_home / "in"
    folder.mkdir()
    events_file(folder / "a.jsonl", make.card_sold(source_id="1"), b"{oops")
    events_file(folder / "b.jsonl", make.card_sold(source_id="2"))
    assert run(["ingest", str(folder / "a.jsonl")]) == 1  # makes the database and keys
    assert run(["ingest", "--rejects", "earlier.jsonl", str(folder / "a.jsonl")]) == 1
    capsys.readouterr()
    victims = [
        node_home / "cardtrace.db",
        node_home / ".cardtrace" / "keys" / "link.key",
        folder / "b.jsonl",  # an input in a folder being read
    ]
    before = {victim: victim.read_bytes() for victim in victims}
    for victim in victims:
        assert run(["ingest", *dry_run, "--rejects", str(victim), str(folder)]) == 2
        assert capsys.readouterr().err == (
            f"cardtrace: {victim} exists and is not a rejects file, which would be "
            "overwritten; name another file with --rejects\n"
        )
    assert {victim: victim.read_bytes() for victim in victims} == before
    # An earlier run's rejects file, or an empty file, is replaced as before.
    (node_home / "empty.jsonl").write_bytes(b"")
    for rejects in ("earlier.jsonl", "empty.jsonl"):
        assert run(["ingest", *dry_run, "--rejects", rejects, str(folder)]) == 1
        assert len((node_home / rejects).read_bytes().splitlines()) == 1


def test_a_card_formats_file_that_cannot_be_read_refuses_the_run_before_any_database(
    node_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"))
    monkeypatch.setenv("CARDTRACE_CARD_FORMATS", str(node_home / "missing.json"))
    assert run(["ingest", str(path)]) == 2
    assert "card formats file" in capsys.readouterr().err
    assert sorted(p.name for p in node_home.iterdir()) == ["a.jsonl"]
    monkeypatch.setenv("CARDTRACE_CARD_FORMATS", "/dev/zero")  # endless: read only so far
    assert run(["ingest", str(path)]) == 2
    assert "card formats file /dev/zero: it holds more than" in capsys.readouterr().err


def test_a_database_with_events_never_gets_new_keys(
    node_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"))
    assert run(["ingest", str(path)]) == 0
    database = f"sqlite:///{node_home / 'cardtrace.db'}"
    elsewhere = node_home / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # its relative key folder, .cardtrace/keys, is not there
    capsys.readouterr()
    commands = (
        ["ingest", str(path)],
        ["ingest", "--dry-run", str(path)],
        ["history", "--issuer", "cmcc", "--serial", "1"],
        ["verify"],
    )
    for command in commands:
        assert run([*command, "--db", database]) == 2
        err = capsys.readouterr().err
        assert err.startswith("cardtrace: the database holds events protected under link key ")
        assert "has no link.key; set CARDTRACE_KEY_DIR to this node's key folder" in err
    assert list(elsewhere.iterdir()) == []  # no keys made
    (elsewhere / ".cardtrace" / "keys").mkdir(parents=True)
    (elsewhere / ".cardtrace" / "keys" / "link.key").write_text("ab" * 32 + "\n")
    assert run(["ingest", str(path), "--db", database]) == 2
    assert "holds link key " in capsys.readouterr().err
    monkeypatch.setenv("CARDTRACE_KEY_DIR", str(node_home / ".cardtrace" / "keys"))
    assert run(["ingest", "--json", str(path), "--db", database]) == 0
    assert last_json(capsys.readouterr().out)["duplicates"] == 1  # a re-send, not a conflict


def test_a_vault_key_that_does_not_open_the_stored_data_is_refused_before_anything_is_stored(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"))
    assert run(["ingest", str(first)]) == 0
    vault = node_home / ".cardtrace" / "keys" / "vault.key"
    kept = vault.read_bytes()
    vault.write_text("cd" * 32 + "\n")  # another node's, or one made anew
    later = events_file(node_home / "b.jsonl", make.card_sold(source_id="2"))
    capsys.readouterr()
    for command in (["ingest", str(later)], ["ingest", "--dry-run", str(later)]):
        assert run(command) == 2
        err = capsys.readouterr().err
        assert err.startswith("cardtrace: the vault.key in the key folder .cardtrace/keys ")
        assert "does not open the personal data stored with event " in err
    vault.unlink()
    assert run(["ingest", str(later)]) == 2
    assert "has no vault.key; set CARDTRACE_KEY_DIR" in capsys.readouterr().err
    assert not vault.exists()  # not made anew
    vault.write_bytes(kept)
    assert run(["stats", "--json"]) == 0
    assert last_json(capsys.readouterr().out)["events"] == 1
    assert run(["ingest", str(later)]) == 0


def test_reading_commands_make_no_keys(node_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = events_file(node_home / "a.jsonl", b"{oops")
    assert run(["ingest", str(path)]) == 1  # a database with no events, and keys
    keys = node_home / ".cardtrace" / "keys"
    shutil.rmtree(keys)
    assert run(["verify"]) == 0
    assert run(["history", "--issuer", "cmcc", "--serial", "1"]) == 0
    assert "No stored event" in capsys.readouterr().out
    assert not keys.exists()
    events_file(path, make.card_sold(source_id="1"))
    assert run(["ingest", str(path)]) == 0
    assert run(["checkpoint"]) == 0
    (keys / "node.key").unlink()
    capsys.readouterr()
    assert run(["verify"]) == 2  # a new signing key would fail every stored checkpoint
    assert capsys.readouterr().err == (
        "cardtrace: the database holds signed checkpoints and the key folder .cardtrace/keys "
        "has no node.key; set CARDTRACE_KEY_DIR to this node's key folder\n"
    )
    assert not (keys / "node.key").exists()


def test_a_database_of_another_program_is_refused_and_left_as_it_was(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = node_home / "other.db"
    with closing(sqlite3.connect(other)) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER)")
        connection.commit()
    before = other.read_bytes()
    path = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"))
    for command in (["stats"], ["ingest", str(path)], ["ingest", "--dry-run", str(path)]):
        assert run([*command, "--db", f"sqlite:///{other}"]) == 2
        assert capsys.readouterr().err == (
            "cardtrace: not a cardtrace database: it holds other tables (customers) and no "
            "cardtrace schema; name an empty or a cardtrace database\n"
        )
    with closing(sqlite3.connect(other)) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        assert [name for (name,) in tables] == ["customers"]
    # Not a byte changed: no WAL mode (which is kept in the file), no other page size.
    assert other.read_bytes() == before
    assert not other.with_name("other.db-wal").exists()


def test_a_database_of_a_newer_cardtrace_is_refused_by_every_command(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"))
    assert run(["ingest", str(path)]) == 0
    with closing(sqlite3.connect(node_home / "cardtrace.db")) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
        connection.commit()
    capsys.readouterr()
    for command in (
        ["stats"],
        ["migrate"],
        ["ingest", str(path)],
        ["ingest", "--dry-run", str(path)],
    ):
        assert run(command) == 2
        err = capsys.readouterr().err
        assert err.startswith("cardtrace: the database's schema is at revision 9999, which ")
        assert err.endswith("it was made by a newer cardtrace; use that one\n")


def test_an_in_memory_database_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["stats", "--db", "sqlite://"]) == 2
    assert capsys.readouterr().err == (
        "cardtrace: an in-memory SQLite database keeps nothing after the command; "
        "name a file (sqlite:///FILE)\n"
    )


def test_a_read_only_database_is_one_line_and_exit_2(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"))
    assert run(["ingest", str(path)]) == 0
    second = events_file(node_home / "b.jsonl", make.card_sold(source_id="2"))
    read_only = f"sqlite:///file:{node_home / 'cardtrace.db'}?mode=ro&uri=true"
    capsys.readouterr()
    assert run(["ingest", "--db", read_only, str(second)]) == 2
    assert capsys.readouterr().err == (
        "cardtrace: database error: attempt to write a readonly database\n"
    )
    assert run(["stats", "--db", read_only, "--json"]) == 0
    assert last_json(capsys.readouterr().out)["events"] == 1


def test_the_ingest_table_counts_types_and_conflicts(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sold = make.card_sold(source_id="1")
    assert run(["ingest", str(events_file(node_home / "a.jsonl", sold))]) == 0
    changed = {**sold, "price_fen": sold["price_fen"] + 1}
    new = make.card_sold(source_id="2")
    assert run(["ingest", str(events_file(node_home / "b.jsonl", changed, new))]) == 1
    rows = [" ".join(line.strip("│ ").split()) for line in capsys.readouterr().out.splitlines()]
    assert "accepted │ 1" in rows
    assert "of which card.sold │ 1" in rows
    assert "of which conflicts (changed after sending) │ 1" in rows


def test_the_ingest_table_counts_erased_and_waiting_erasures(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    erasures = [make.record_erased(str(n), source_id=f"e-{n}") for n in range(3)]
    sold = [make.card_sold(source_id=str(n), serial=make.serial()) for n in range(2)]
    path = str(events_file(node_home / "a.jsonl", *sold, *erasures))
    for command, erased in ((["--dry-run"], "would be erased"), ([], "was erased")):
        assert run(["ingest", *command, path]) == 0
        out = capsys.readouterr().out
        rows = [" ".join(line.strip("│ ").split()) for line in out.splitlines()]
        assert f"events whose personal data {erased} │ 2" in rows
        assert "erasures waiting for their event │ 1" in rows
    assert run(["stats"]) == 0
    assert (
        "erasures: 2 events' personal data erased, 1 waiting for their event, 0 naming "
        "another node's event (erasing nothing)"
    ) in capsys.readouterr().out
    assert run(["stats", "--json"]) == 0
    counts = last_json(capsys.readouterr().out)["erasures"]
    assert counts == {"erased": 2, "other_node": 0, "waiting": 1}


def test_version_is_the_installed_package_s(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.metadata import version

    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"cardtrace {version('cardtrace')}\n"
    monkeypatch.setattr(sys, "stdout", None)
    assert run(["--version"]) == 2
    assert capsys.readouterr().err == (
        "cardtrace: standard output is closed; redirect it (to /dev/null to discard it)\n"
    )


def test_stats_and_history(node_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sold = make.card_sold(source_id="1", serial="12345678901234567")
    redeemed = make.card_redeemed(source_id="2", serial="12345678901234567")
    run(["ingest", str(events_file(node_home / "a.jsonl", sold, redeemed))])
    capsys.readouterr()
    assert run(["stats", "--json"]) == 0
    figures = last_json(capsys.readouterr().out)
    assert (figures["events"], figures["log_size"]) == (2, 2)
    assert "latest_checkpoint" not in figures
    assert run(["checkpoint"]) == 0
    capsys.readouterr()
    assert run(["stats", "--json"]) == 0
    latest = last_json(capsys.readouterr().out)["latest_checkpoint"]
    assert isinstance(latest, dict)
    assert (latest["size"], latest["witnessed"]) == (2, False)
    assert run(["stats"]) == 0
    made = str(latest["created_at"])[:16].replace("T", " ")
    assert f"latest checkpoint #1 of 2 leaves, made {made} UTC, not witnessed\n" in (
        capsys.readouterr().out
    )
    assert run(["history", "--issuer", "cmcc", "--serial", "12345678901234567", "--json"]) == 0
    leaves = orjson.loads(capsys.readouterr().out)
    assert [leaf["type"] for leaf in leaves] == ["card.sold", "card.redeemed"]
    assert "+8613900139000" not in str(leaves)


def test_stats_tell_each_node_and_type_when_its_events_occurred(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [
        make.card_sold(source_id="1", occurred_at="2025-03-01T10:00:00+08:00"),
        make.card_sold(source_id="2", occurred_at="2025-01-31T23:59:00+08:00"),
        make.card_redeemed(
            source_id="3",
            occurred_at="2025-04-02T08:30:00Z",
            recorded_at="2025-04-02T08:31:00Z",
        ),
    ]
    run(["ingest", str(events_file(node_home / "a.jsonl", *events))])
    capsys.readouterr()
    assert run(["stats", "--json"]) == 0
    figures: dict[str, Any] = last_json(capsys.readouterr().out)
    assert figures["by_node"] == {"cmcc": 1, "shop-a": 2}
    assert figures["nodes"]["shop-a"] == {
        "events": 2,
        "first_occurred": "2025-01-31T15:59:00.000000Z",
        "last_occurred": "2025-03-01T02:00:00.000000Z",
        "by_type": {"card.sold": 2},
    }
    assert figures["types"]["card.redeemed"] == {
        "events": 1,
        "first_occurred": "2025-04-02T08:30:00.000000Z",
        "last_occurred": "2025-04-02T08:30:00.000000Z",
    }
    assert run(["stats"]) == 0
    rows = [" ".join(line.strip("│ ").split()) for line in capsys.readouterr().out.splitlines()]
    assert "shop-a │ 2 │ 2025-01-31 15:59 │ 2025-03-01 02:00" in rows
    assert "card.redeemed │ 1 │ 2025-04-02 08:30 │ 2025-04-02 08:30" in rows
    assert rows.count("total │ 3 │ 2025-01-31 15:59 │ 2025-04-02 08:30") == 2
    assert (figures["first_occurred"], figures["last_occurred"]) == (
        "2025-01-31T15:59:00.000000Z",
        "2025-04-02T08:30:00.000000Z",
    )


def test_stats_of_a_node_with_no_events(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = node_home / "empty.jsonl"
    empty.write_bytes(b"")
    assert run(["ingest", str(empty)]) == 0
    capsys.readouterr()
    assert run(["stats", "--json"]) == 0
    figures = last_json(capsys.readouterr().out)
    assert (figures["events"], figures["first_occurred"], figures["last_occurred"]) == (
        0,
        None,
        None,
    )
    assert (figures["types"], figures["nodes"]) == ({}, {})
    assert run(["stats"]) == 0
    assert "total │      0 │" in capsys.readouterr().out


def test_history_by_pin_reads_it_from_stdin(
    node_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    sold = make.card_sold(source_id="1", pin="987654321098765432")
    run(["ingest", str(events_file(node_home / "a.jsonl", sold))])
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("987654321098765432\n"))
    assert run(["history", "--issuer", "cmcc", "--pin-stdin", "--json"]) == 0
    (leaf,) = orjson.loads(capsys.readouterr().out)
    assert leaf["source_id"] == "1"


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("987654321098765432\n111111111111111111\n", "standard input holds 2 lines"),
        ("9" * 2000, "standard input holds over 1024 characters"),
        ("\n \n", "card PIN is empty"),
    ],
)
def test_history_by_pin_takes_exactly_one_pin_and_touches_nothing_otherwise(
    node_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    given: str,
    said: str,
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(given))
    assert run(["history", "--issuer", "cmcc", "--pin-stdin"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert said in err
    assert "987654321098765432" not in err
    assert list(node_home.iterdir()) == []  # no database, no keys


def test_history_refuses_a_serial_that_has_the_form_of_a_pin(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sold = make.card_sold(source_id="1", pin="987654321098765432")
    run(["ingest", str(events_file(node_home / "a.jsonl", sold))])
    capsys.readouterr()
    assert run(["history", "--issuer", "cmcc", "--serial", "987654321098765432"]) == 2
    err = capsys.readouterr().err
    assert "the serial has the length of a cmcc PIN" in err
    assert "--pin-stdin" in err
    assert "987654321098765432" not in err


def test_a_card_printed_in_groups_is_one_card_whichever_way_it_is_typed(
    node_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    grouped = make.card_sold(source_id="1", serial="1234-5678-9012-3456-7", pin="9876 5432 1098")
    plain = make.card_sold(source_id="2", serial="12345678901234567", pin="987654321098")
    assert run(["ingest", str(events_file(node_home / "a.jsonl", grouped, plain))]) == 0
    capsys.readouterr()
    assert run(["history", "--issuer", "cmcc", "--serial", "12345 67890 12345 67", "--json"]) == 0
    assert [leaf["source_id"] for leaf in orjson.loads(capsys.readouterr().out)] == ["1", "2"]
    monkeypatch.setattr("sys.stdin", io.StringIO("9876-5432-1098\n"))
    assert run(["history", "--issuer", "cmcc", "--pin-stdin", "--json"]) == 0
    assert [leaf["source_id"] for leaf in orjson.loads(capsys.readouterr().out)] == ["1", "2"]
    assert run(["history", "--issuer", "cmcc", "--serial", "1234_5678"]) == 2
    assert capsys.readouterr().err == (
        "cardtrace: card serial may contain only letters A-Z and digits\n"
    )


def test_codes_with_letters_and_issuer_codes_are_one_card_in_either_case(
    node_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    upper = make.card_sold(source_id="1", issuer="JD-ECARD", serial=None, pin="AB12-CD34-EF56-0789")
    lower = make.card_sold(source_id="2", issuer="jd-ecard", serial=None, pin="ab12cd34ef560789")
    assert run(["ingest", "--json", str(events_file(node_home / "a.jsonl", upper, lower))]) == 0
    assert last_json(capsys.readouterr().out)["accepted"] == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("ab12-cd34-EF56-0789\n"))
    assert run(["history", "--issuer", "Jd-eCard", "--pin-stdin", "--json"]) == 0
    leaves = orjson.loads(capsys.readouterr().out)
    assert [(leaf["source_id"], leaf["issuer"]) for leaf in leaves] == [
        ("1", "jd-ecard"),
        ("2", "jd-ecard"),
    ]


def test_history_of_an_unknown_issuer_says_the_code_may_be_wrong(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sold = make.card_sold(source_id="1", serial="12345678901234567")
    run(["ingest", str(events_file(node_home / "a.jsonl", sold))])
    capsys.readouterr()
    assert run(["history", "--issuer", "cmcc", "--serial", "12345678901234568"]) == 0
    assert capsys.readouterr().out == "No stored event of this card.\n"
    assert run(["history", "--issuer", "cmc", "--serial", "12345678901234567"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("No stored event of this card.\nThe issuer 'cmc' has no known card")
    assert run(["history", "--issuer", "cm cc", "--serial", "12345678901234567"]) == 2
    assert capsys.readouterr().err.startswith("cardtrace: the issuer is not an issuer code")
    pin = "007887662992988600"  # a PIN typed where the issuer goes is not shown back
    assert run(["history", "--issuer", pin, "--serial", "12345678901234567"]) == 2
    assert pin not in capsys.readouterr().err


def test_schema_is_a_json_schema_of_every_event_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["schema"]) == 0
    schema = orjson.loads(capsys.readouterr().out)
    assert "card.redeemed" in orjson.dumps(schema).decode()
    assert schema["discriminator"]["propertyName"] == "type"


def test_a_card_formats_file_adds_issuers(
    node_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = make.card_sold(source_id="1", issuer="cmcc-hainan", serial="1234567890123456")
    path = events_file(node_home / "a.jsonl", odd)
    assert run(["ingest", "--json", str(path)]) == 0
    assert "issuer: unknown issuer code" in str(last_json(capsys.readouterr().out)["warnings"])
    formats = node_home / "formats.json"
    formats.write_text('[{"issuer": "cmcc-hainan", "serial_lengths": [16], "pin_lengths": [18]}]')
    monkeypatch.setenv("CARDTRACE_CARD_FORMATS", str(formats))
    second = events_file(node_home / "b.jsonl", {**odd, "source_id": "2"})
    assert run(["ingest", "--json", str(second)]) == 0
    assert last_json(capsys.readouterr().out)["warnings"] == {}


def test_a_malformed_card_formats_file_is_one_line(
    node_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    formats = node_home / "formats.json"
    formats.write_text('[{"issuer": "x", "serial_lengths": "sixteen"}]')
    monkeypatch.setenv("CARDTRACE_CARD_FORMATS", str(formats))
    path = events_file(node_home / "a.jsonl", make.card_sold(source_id="1"))
    assert run(["ingest", str(path)]) == 2
    assert "card formats: entry 0.serial_lengths" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "shown"),
    [("a\nb", "a\\x0ab"), ("\x1b[31m", "\\x1b[31m"), ("\x85", "\\x85"), ("\u2028", "\\u2028")],
)
def test_an_error_naming_a_file_escapes_its_line_breaks_and_terminal_controls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, shown: str
) -> None:
    assert run(["ingest", "--db", f"sqlite:///{tmp_path / 'c.db'}", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert err == f"cardtrace: {tmp_path}/{shown}: no such file or folder\n"
    assert len(err.splitlines()) == 1
