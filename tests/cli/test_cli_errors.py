"""What the command line says when its environment is wrong: a setting, a database URL,
a closed standard stream. Always one line on stderr and exit 2, never an internal error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import factories as make
from cardtrace.cli.main import run
from cardtrace.settings import Settings


@pytest.fixture(autouse=True)
def node_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs in its own folder, with no setting from the caller's environment."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(f"CARDTRACE_{name.upper()}", raising=False)
    return tmp_path


def one_line(err: str) -> str:
    """The one line a failing command printed, without its prefix."""
    assert err.count("\n") == 1, err
    assert err.startswith("cardtrace: "), err
    assert "internal error" not in err
    return err.removeprefix("cardtrace: ").rstrip("\n")


def test_a_witness_keys_setting_that_is_not_json_names_the_setting_and_its_form(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARDTRACE_WITNESS_KEYS", "abc")
    assert run(["stats"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("setting CARDTRACE_WITNESS_KEYS: not JSON: expects a JSON list")
    assert '["witness+1a2b3c4d+BASE64"]' in line


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("", "not JSON"),
        ('["abc"', "not JSON"),
        ('"abc"', "CARDTRACE_WITNESS_KEYS: Input should be a valid list"),
        ("[1]", "CARDTRACE_WITNESS_KEYS[0]: Input should be a valid string"),
    ],
)
def test_a_witness_keys_setting_that_is_not_a_list_of_text_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str, said: str
) -> None:
    monkeypatch.setenv("CARDTRACE_WITNESS_KEYS", value)
    assert run(["stats"]) == 2
    assert said in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("value", ["{", "abc", "", "[1]", "-1", "null"])
@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_any_malformed_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    # A value a setting takes leaves `stats` to find no database in the empty folder.
    monkeypatch.setenv(f"CARDTRACE_{name.upper()}", value)
    assert run(["stats"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith((f"setting CARDTRACE_{name.upper()}", "no database at", "database "))


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("sqlite:///x.db?timeout=abc", "query parameter 'timeout' is not supported for SQLite"),
        ("sqlite+pysqlcipher:///x.db", "driver 'pysqlcipher' is not supported"),
        ("sqlite:///x.db?foo=bar", "query parameter 'foo' is not supported for SQLite"),
        ("postgresql+asyncpg://u:hunter2@db.example/x", "driver 'asyncpg' is not supported"),
        ("postgresql://u:hunter2@db.example/x?autocommit=1", "'autocommit' is not a PostgreSQL"),
        # Each of these was an internal error (ValueError, ArgumentError, UnicodeError).
        ("postgresql://u:hunter2@db.example:abc/x", "its port is not a number from 1 to 65535"),
        ("postgresql://u:hunter2/x", "its port is not a number"),  # the password read as a port
        ("postgresql://[::1", "the IPv6 address of its host has no closing ']'"),
        ("postgresql://u:hunter2@db..example/x", "a host it names is not a valid host name"),
        ("postgresql://u:hunter2@/x?host=a&port=abc", "its host and port parameters do not"),
        ("sqlite:///a%00b.db", "the SQLite file name holds a NUL character"),
        ("sqlite://tmp/host.db", "a SQLite URL names a file, with no host, port or user"),
        ("sqlite://u:hunter2@localhost/x.db", "sqlite:///RELATIVE/PATH or sqlite:////ABSOLUTE"),
    ],
)
def test_a_database_url_cardtrace_cannot_use_is_one_line_naming_the_part_at_fault(
    node_home: Path, capsys: pytest.CaptureFixture[str], url: str, said: str
) -> None:
    path = node_home / "a.jsonl"
    path.write_bytes(orjson.dumps(make.card_sold()) + b"\n")
    assert run(["ingest", "--db", url, str(path)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("database URL: ")
    assert said in line
    assert "hunter2" not in line
    assert sorted(file.name for file in node_home.iterdir()) == ["a.jsonl"]


def test_a_malformed_database_url_setting_is_one_line_for_a_reading_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARDTRACE_DATABASE_URL", "postgresql://u:hunter2@db.example:abc/x")
    assert run(["stats"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "database URL: its port is not a number from 1 to 65535 (postgresql://USER@HOST:PORT/DB)"
    )


def test_a_sqlite_url_with_a_host_is_refused_not_read_as_a_relative_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["stats", "--db", "sqlite://localhost/tmp/t2/a.db"]) == 2  # was tmp/t2/a.db
    assert one_line(capsys.readouterr().err) == (
        "database URL: a SQLite URL names a file, with no host, port or user before it: "
        "sqlite:///RELATIVE/PATH or sqlite:////ABSOLUTE/PATH"
    )


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (
            "sqlite:///nonexist_dir/x.db",
            "cannot create the SQLite database nonexist_dir/x.db: its folder nonexist_dir "
            "does not exist",
        ),
        (
            "sqlite:///a.jsonl/x.db",
            "cannot create the SQLite database a.jsonl/x.db: its folder a.jsonl is not a folder",
        ),
        ("sqlite:///folder.db", "cannot open the SQLite database folder.db: it is a folder"),
        ("sqlite:///junk.db", "file is not a database"),
        ("sqlite:///file:x.db?uri=true&mode=bogus", "no such access mode: bogus"),
        # No file can be made in /proc, not even by root, whom permission bits let through.
        (
            "sqlite:////proc/cardtrace-test.db",
            "cannot create the SQLite database /proc/cardtrace-test.db: No such file or directory",
        ),
        ("postgresql://u@127.0.0.1:1/x?connect_timeout=5", "cannot open the database: "),
    ],
)
def test_an_ingest_into_a_database_that_cannot_be_opened_makes_no_keys(
    node_home: Path, capsys: pytest.CaptureFixture[str], url: str, said: str
) -> None:
    path = node_home / "a.jsonl"
    path.write_bytes(orjson.dumps(make.card_sold()) + b"\n")
    (node_home / "folder.db").mkdir()
    (node_home / "junk.db").write_bytes(b"not a database, but long enough to be read as one" * 4)
    assert run(["ingest", "--db", url, "a.jsonl"]) == 2
    assert said in one_line(capsys.readouterr().err)
    assert not (node_home / ".cardtrace").exists()  # the key folder


@pytest.mark.parametrize(
    ("key_dir", "said"),
    [
        ("a-file", "the key folder a-file is a file, not a folder"),
        ("a-file/keys", "the key folder a-file/keys cannot be made: a-file is a file"),
        ("/proc/cardtrace-keys", "cannot create keys in the key folder /proc/cardtrace-keys: "),
    ],
)
def test_an_ingest_whose_key_folder_cannot_hold_keys_makes_no_database(
    node_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    key_dir: str,
    said: str,
) -> None:
    (node_home / "a.jsonl").write_bytes(orjson.dumps(make.card_sold()) + b"\n")
    (node_home / "a-file").write_text("not a folder\n")
    monkeypatch.setenv("CARDTRACE_KEY_DIR", key_dir)
    assert run(["ingest", "a.jsonl"]) == 2
    assert said in one_line(capsys.readouterr().err)
    assert sorted(p.name for p in node_home.iterdir()) == ["a-file", "a.jsonl"]


def test_history_with_standard_input_closed_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", None)  # as Python starts with it closed (`<&-`)
    assert run(["history", "--issuer", "cmcc", "--pin-stdin"]) == 2
    assert one_line(capsys.readouterr().err) == "--pin-stdin reads standard input, which is closed"


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("history --issuer cmcc --pin-stdin <&-", "--pin-stdin reads standard input"),
        ("schema >&-", "standard output is closed"),
        ("stats >&-", "standard output is closed"),
    ],
)
def test_a_command_started_with_a_standard_stream_closed_says_so_in_one_line(
    command: str, said: str
) -> None:
    done = subprocess.run(
        ["sh", "-c", f'exec "$0" -m cardtrace {command}', sys.executable],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert said in one_line(done.stderr)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["sim", "--out", ""], "--out"),
        (["demo", "--folder", ""], "--folder"),
        (["ingest", ""], "PATH..."),
        (["ingest", "a.jsonl", ""], "PATH..."),
        (["ingest", "a.jsonl", "--rejects", ""], "--rejects"),
        (["checkpoint", "--export", ""], "--export"),
        (["prove", "--event", "x", "--out", ""], "--out"),
        (["verify-bundle", "", "--key", "k"], "FILE"),
        (["consistency", "--out", ""], "--out"),
        (["witness", "", "--origin-key", "k"], "REQUEST"),
        (["cosignature", "add", ""], "FILE"),
    ],
)
def test_an_empty_file_or_folder_name_is_refused_not_read_as_this_folder(
    node_home: Path, capsys: pytest.CaptureFixture[str], args: list[str], name: str
) -> None:
    (node_home / "a.jsonl").write_bytes(orjson.dumps(make.card_sold()) + b"\n")
    assert run(args) == 2
    assert one_line(capsys.readouterr().err) == (
        f"Invalid value for '{name}': an empty name names no file or folder ('.' is this "
        f"folder) (see 'cardtrace {' '.join(args[:2] if args[0] == 'cosignature' else args[:1])} "
        "--help')"
    )
    assert sorted(path.name for path in node_home.iterdir()) == ["a.jsonl"]
