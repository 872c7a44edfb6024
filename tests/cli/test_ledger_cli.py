"""The ledger's commands as users script them: outputs, files, exit codes, one-line errors."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shlex
import sqlite3
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import factories as make
from cardtrace.cli.main import run
from cardtrace.domain.events import event_uuid_for
from cardtrace.ledger.note import Verifier, open_note
from tampering import PROTECTED_VALUES, changed


@pytest.fixture(autouse=True)
def node_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs in its own folder: default database and keys land there."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "KEY_DIR", "ORIGIN", "WITNESS_KEYS", "NODE_ID", "ENVIRONMENT"):
        monkeypatch.delenv(f"CARDTRACE_{name}", raising=False)
    return tmp_path


def ingest(folder: Path, first: int, count: int, *args: str) -> list[str]:
    path = folder / f"events-{first}.jsonl"
    sources = [str(n) for n in range(first, first + count)]
    path.write_bytes(b"".join(orjson.dumps(make.card_sold(source_id=s)) + b"\n" for s in sources))
    assert run(["ingest", *args, str(path)]) == 0
    return [str(event_uuid_for("shop-a", source)) for source in sources]


def output(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def proved(node_home: Path, capsys: pytest.CaptureFixture[str], count: int) -> str:
    """Ingest ``count`` events, checkpoint, prove the first into b.json; the node's key."""
    ids = ingest(node_home, 1, count)
    run(["checkpoint"])
    run(["prove", "--event", ids[0], "--out", "b.json"])
    _, key, _ = output(capsys, "keys", "verifier")
    return key.strip()


def one_line_error(err: str, *needles: str) -> None:
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err


# --- keys and checkpoints -------------------------------------------------------------------


def test_a_production_node_without_keys_stores_nothing_and_makes_no_database(
    node_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARDTRACE_ENVIRONMENT", "production")
    (node_home / "a.jsonl").write_bytes(orjson.dumps(make.card_sold(source_id="1")) + b"\n")
    code, _, err = output(capsys, "ingest", "a.jsonl")
    assert code == 2
    one_line_error(err, "key link.key not found")
    assert sorted(p.name for p in node_home.iterdir()) == ["a.jsonl"]


def test_keys_init_then_verifier(
    node_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARDTRACE_ENVIRONMENT", "production")
    code, _, err = output(capsys, "keys", "verifier")
    assert code == 2
    one_line_error(err, "cardtrace keys init")
    code, out, _ = output(capsys, "keys", "init")
    assert code == 0
    assert sorted(p.name for p in (node_home / ".cardtrace" / "keys").iterdir()) == [
        "link.key",
        "node.key",
        "vault.key",
        "witness.key",
    ]
    code, key, _ = output(capsys, "keys", "verifier")
    assert code == 0
    assert f"checkpoint key: {key.strip()}" in out
    verifier = Verifier.from_vkey(key.strip())
    assert (verifier.name, verifier.key_type) == ("cardtrace/local", 1)
    _, witness, _ = output(capsys, "keys", "verifier", "--witness")
    assert Verifier.from_vkey(witness.strip()).key_type == 4


@pytest.mark.parametrize(("args", "key"), [([], "node.key"), (["--witness"], "witness.key")])
def test_keys_verifier_makes_no_key(
    node_home: Path, capsys: pytest.CaptureFixture[str], args: list[str], key: str
) -> None:
    folder = node_home / ".cardtrace" / "keys"
    code, out, err = output(capsys, "keys", "verifier", *args)
    assert (code, out) == (2, "")
    one_line_error(err, f"the key folder .cardtrace/keys has no {key}", "'cardtrace keys init'")
    assert "CARDTRACE_KEY_DIR" in err
    assert not (node_home / ".cardtrace").exists()
    ingest(node_home, 1, 1)
    run(["checkpoint"])  # makes link.key, vault.key and node.key, no witness.key
    made = sorted(p.name for p in folder.iterdir())
    code, out, err = output(capsys, "keys", "verifier", *args)
    if key == "node.key":
        assert (code, err) == (0, "")
        assert Verifier.from_vkey(out.strip()).name == "cardtrace/local"
    else:
        assert (code, out) == (2, "")
        one_line_error(err, "has no witness.key")
    assert sorted(p.name for p in folder.iterdir()) == made


def test_checkpoint_prints_the_note_exactly_as_stored(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(node_home, 1, 3)
    code, note, err = output(capsys, "checkpoint", "--export", "cp.txt")
    assert code == 0
    assert "checkpoint #1 of 3 leaves (new)" in err
    assert (node_home / "cp.txt").read_text() == note
    _, key, _ = output(capsys, "keys", "verifier")
    text, _ = open_note(note, [Verifier.from_vkey(key.strip())])
    assert text.startswith("cardtrace/local\n3\n")
    code, again, err = output(capsys, "checkpoint")
    assert (code, again) == (0, note)
    assert "unchanged" in err
    code, listing, _ = output(capsys, "checkpoint", "--list", "--json")
    (row,) = orjson.loads(listing)
    assert (row["id"], row["size"], row["note"], row["witnessed"]) == (1, 3, note, False)


def test_a_checkpoint_file_that_cannot_be_written_is_refused_before_signing(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(node_home, 1, 3)
    for target in ("missing/cp.txt", ".", "/proc/cp.txt"):
        code, _, err = output(capsys, "checkpoint", "--export", target)
        assert code == 2
        one_line_error(err, f"cannot write the checkpoint file {target}")
    code, listing, _ = output(capsys, "checkpoint", "--list", "--json")
    assert (code, orjson.loads(listing)) == (0, [])


def test_checkpoint_of_an_empty_log_is_refused(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = output(capsys, "checkpoint")
    assert code == 2
    one_line_error(err, "no database at cardtrace.db")
    (node_home / "none.jsonl").write_bytes(b"")
    assert output(capsys, "ingest", "none.jsonl")[0] == 0  # makes the database, stores nothing
    code, _, err = output(capsys, "checkpoint")
    assert code == 2
    one_line_error(err, "empty")


# --- prove and verify-bundle ----------------------------------------------------------------


def test_prove_then_verify_bundle_offline(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ingest(node_home, 1, 5)
    code, _, err = output(capsys, "prove", "--event", ids[2])
    assert code == 2
    one_line_error(err, "run 'cardtrace checkpoint'")
    run(["checkpoint"])
    code, out, _ = output(capsys, "prove", "--event", ids[2], "--out", "b.json")
    assert code == 0
    assert "leaf 2 of a tree of 5 leaves" in out
    _, key, _ = output(capsys, "keys", "verifier")
    (node_home / "cardtrace.db").unlink()  # offline: nothing but the file and the key
    code, out, _ = output(capsys, "verify-bundle", "b.json", "--key", key.strip())
    assert code == 0
    assert "VALID" in out
    assert "cardtrace/local\n5\n" in out
    code, out, _ = output(capsys, "verify-bundle", "b.json", "--key", key.strip(), "--json")
    assert orjson.loads(out)["valid"] is True


def test_verify_bundle_says_which_check_fails_and_exits_4(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = proved(node_home, capsys, 2)
    run(["keys", "init"])  # the witness key, whose public half serves as a wrong key
    _, witness, _ = output(capsys, "keys", "verifier", "--witness")
    code, out, err = output(capsys, "verify-bundle", "b.json", "--key", key, "--min-witnesses", "1")
    assert code == 4
    assert "FAILED witness quorum: 0 known witness(es) cosigned, 1 required" in out
    one_line_error(err, "does not verify (witness quorum)")
    document = orjson.loads((node_home / "b.json").read_bytes())
    document["leaf_index"] = 1
    (node_home / "moved.json").write_bytes(orjson.dumps(document))
    code, out, _ = output(capsys, "verify-bundle", "moved.json", "--key", key)
    assert code == 4
    assert "FAILED inclusion" in out
    assert "VALID" not in out
    other = Verifier.from_vkey(witness.strip())
    stranger = Verifier("cardtrace/local", other.public_key).vkey()  # right name, wrong key
    code, out, _ = output(capsys, "verify-bundle", "b.json", "--key", stranger)
    assert code == 4
    assert "FAILED checkpoint signature: note: no valid signature from a known key" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not valid JSON"),
        (b'{"format":"cardtrace-evidence-bundle"', "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "top level must be a JSON object"),
    ],
)
def test_malformed_bundles_exit_2_with_one_line(
    node_home: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    (node_home / "bad.json").write_bytes(content)
    key = Verifier("n", bytes(32)).vkey()
    code, out, err = output(capsys, "verify-bundle", "bad.json", "--key", key)
    assert (code, out) == (2, "")
    one_line_error(err, message)


def test_bundle_fields_of_the_wrong_shape_exit_2(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = proved(node_home, capsys, 3)
    good = orjson.loads((node_home / "b.json").read_bytes())
    cases = {
        "short proof hash": {"inclusion_proof": [good["inclusion_proof"][0][:-8] + "AAA="]},
        "proof too long": {"inclusion_proof": good["inclusion_proof"] * 40},
        "bad checkpoint": {"checkpoint": "cardtrace/local\n3\n\n— x y\n"},
        "index beyond size": {"leaf_index": 3},
        "extra field": {"extra": 1},
    }
    for name, change in cases.items():
        (node_home / "bad.json").write_bytes(orjson.dumps({**good, **change}))
        code, out, err = output(capsys, "verify-bundle", "bad.json", "--key", key)
        assert (code, out) == (2, ""), name
        one_line_error(err, "bundle")
    (node_home / "bad.json").write_bytes(
        orjson.dumps({**good, "inclusion_proof": good["inclusion_proof"][:-1]})
    )
    code, out, _ = output(capsys, "verify-bundle", "bad.json", "--key", key)
    assert code == 4
    assert "FAILED inclusion" in out
    assert "wrong proof length: 1 hashes" in out


def test_bad_keys_and_missing_files_exit_2(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (node_home / "b.json").write_bytes(b"{}")
    for args in (
        ["verify-bundle", "missing.json", "--key", Verifier("n", bytes(32)).vkey()],
        ["verify-bundle", "b.json", "--key", "not-a-key"],
        ["verify-bundle", "b.json"],
    ):
        code, _, err = output(capsys, *args)
        assert code == 2, args
        one_line_error(err)
    assert "Missing option '--key'" in err  # the last: required, and its help says so
    code, out, _ = output(capsys, "verify-bundle", "--help")
    assert code == 0
    assert re.search(r"\*\s+--key\b", out)


@pytest.mark.parametrize("command", [["verify-bundle"], ["witness"], ["cosignature", "add"]])
@pytest.mark.parametrize("source", ["/dev/zero", "huge.json"])
def test_a_file_far_larger_than_its_kind_is_refused_before_it_fills_memory(
    node_home: Path, capsys: pytest.CaptureFixture[str], command: list[str], source: str
) -> None:
    with (node_home / "huge.json").open("wb") as huge:
        huge.truncate(2 << 20)  # 2 MiB of nothing, past the 1 MiB limit
    key = Verifier("n", bytes(32)).vkey()
    options = {"verify-bundle": ["--key", key], "witness": ["--origin-key", key]}
    code, out, err = output(capsys, *command, source, *options.get(command[0], []))
    assert (code, out) == (2, "")
    one_line_error(err, f"{source}: it holds more than 1,048,576 bytes")


# --- files the commands write ---------------------------------------------------------------

#: The three options that write a file: the kind each writes, as its errors name it.
WRITERS = {
    "prove --out": ("an", "evidence bundle", "--out"),
    "consistency --out": ("a", "witness request", "--out"),
    "checkpoint --export": ("a", "checkpoint file", "--export"),
}


def write(option: str, target: Path | str, event: str) -> list[str]:
    """The command that writes ``option``'s file to ``target``."""
    return {
        "prove --out": ["prove", "--event", event, "--out", str(target)],
        "consistency --out": ["consistency", "--from", "0", "--out", str(target)],
        "checkpoint --export": ["checkpoint", "--export", str(target)],
    }[option]


def leftovers(folder: Path) -> list[Path]:
    """Temporary files a write left behind."""
    return sorted(folder.glob(".*.tmp"))


@pytest.mark.parametrize("option", WRITERS)
def test_an_earlier_file_of_the_same_kind_or_an_empty_one_is_replaced(
    node_home: Path, option: str
) -> None:
    (event,) = ingest(node_home, 1, 1)
    run(["checkpoint"])
    assert run(write(option, "out", event)) == 0
    first = (node_home / "out").read_bytes()
    ingest(node_home, 2, 2)
    run(["checkpoint"])
    (node_home / "empty").write_bytes(b"")  # as `mktemp` leaves it
    for target in ("out", "empty", "fresh"):
        assert run(write(option, target, event)) == 0, target
    fresh = (node_home / "fresh").read_bytes()
    assert fresh != first  # of the grown log
    assert (node_home / "out").read_bytes() == (node_home / "empty").read_bytes() == fresh
    assert leftovers(node_home) == []


@pytest.mark.parametrize("option", WRITERS)
def test_anything_else_at_the_path_is_refused_and_left_as_it_was(
    node_home: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    (event,) = ingest(node_home, 1, 1)
    run(["checkpoint"])
    outputs = {name: node_home / f"{name}.out" for name in WRITERS}
    for name, path in outputs.items():
        assert run(write(name, path, event)) == 0
    ingest(node_home, 2, 1)  # so that a checkpoint refused after signing would show
    with (node_home / "huge").open("wb") as huge:
        huge.truncate(2 << 20)  # past the 1 MiB any output stays below: read no further
    victims = [
        node_home / "cardtrace.db",
        node_home / ".cardtrace" / "keys" / "node.key",
        node_home / "events-1.jsonl",  # an input
        node_home / "huge",
        *(path for name, path in outputs.items() if name != option),  # outputs of other kinds
    ]
    before = {victim: victim.read_bytes() for victim in victims}
    article, what, flag = WRITERS[option]
    for victim in victims:
        code, out, err = output(capsys, *write(option, victim, event))
        assert (code, out) == (2, ""), victim
        assert err == (
            f"cardtrace: {victim} exists and is not {article} {what}, which would be "
            f"overwritten; name another file with {flag}\n"
        )
    assert {victim: victim.read_bytes() for victim in victims} == before
    assert leftovers(node_home) == leftovers(node_home / ".cardtrace" / "keys") == []
    code, listing, _ = output(capsys, "checkpoint", "--list", "--json")
    assert (code, len(orjson.loads(listing))) == (0, 1)


@pytest.mark.parametrize("option", WRITERS)
def test_a_folder_or_a_pipe_at_the_path_is_refused(
    node_home: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    (event,) = ingest(node_home, 1, 1)
    run(["checkpoint"])
    (node_home / "folder").mkdir()
    os.mkfifo(node_home / "pipe")
    _, what, flag = WRITERS[option]
    for target, found in (("folder", "a folder"), ("pipe", "a pipe")):
        code, _, err = output(capsys, *write(option, target, event))
        assert code == 2
        assert err == (
            f"cardtrace: cannot write the {what} {target}: it is {found}; name a file with {flag}\n"
        )
    assert list((node_home / "folder").iterdir()) == []


@pytest.mark.parametrize("option", WRITERS)
def test_a_write_failing_half_way_leaves_the_earlier_file_whole(
    node_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: str,
) -> None:
    (event,) = ingest(node_home, 1, 1)
    run(["checkpoint"])
    assert run(write(option, "out", event)) == 0
    earlier = (node_home / "out").read_bytes()
    ingest(node_home, 2, 1)
    run(["checkpoint"])

    def disk_full(_: int) -> None:  # the bytes are written, not yet on disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    code, _, err = output(capsys, *write(option, "out", event))
    assert code == 2
    _, what, _ = WRITERS[option]
    one_line_error(err, f"cannot write the {what} out: No space left on device")
    assert (node_home / "out").read_bytes() == earlier
    assert leftovers(node_home) == []


# --- verify (the audit) ---------------------------------------------------------------------


def test_verify_exits_0_when_clean_and_4_after_a_raw_sql_edit(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ingest(node_home, 1, 5)
    run(["checkpoint"])
    code, out, _ = output(capsys, "verify")
    assert code == 0
    assert "read 5 events, a log of 5 leaves and 1 checkpoints" in out
    assert "clean" in out
    with sqlite3.connect(node_home / "cardtrace.db") as connection:
        connection.execute("DELETE FROM events WHERE seq = 2")
    connection.close()
    code, out, err = output(capsys, "verify")
    assert code == 4
    assert "PROBLEM event-missing: events seq 2 to 2 are missing" in out
    # The row is missing, the kept count of such events no longer matches the rows, and
    # the id and link indexes lead to an event that is not there.
    one_line_error(err, "the audit found 4 problem(s)")
    code, out, _ = output(capsys, "verify", "--json")
    report = orjson.loads(out)
    counts = {"event-missing": 1, "count-changed": 1, "id-index": 1, "link-index": 1}
    assert (code, report["clean"], report["counts"]) == (4, False, counts)
    assert report["problems"][0]["seq"] == 2
    code, _, err = output(capsys, "prove", "--event", ids[2])
    assert code == 2
    one_line_error(err, "no stored event has this id")
    assert run(["prove", "--event", ids[0]]) == 0  # the others' evidence still verifies


def test_reindex_rebuilds_what_verify_finds_wrong_and_refuses_an_edited_log(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(node_home, 1, 5)
    code, out, _ = output(capsys, "reindex")
    assert (code, out) == (
        0,
        "the audit found the indexes, counts and erasures table whole: nothing to rebuild\n",
    )
    with sqlite3.connect(node_home / "cardtrace.db") as connection:
        connection.execute("DELETE FROM links WHERE seq = 2")
        connection.execute("UPDATE event_counts SET events = 1")
    connection.close()
    code, out, _ = output(capsys, "reindex")
    assert code == 0
    assert out.splitlines() == [
        "the audit found: count-changed 1, link-index 1",
        "rebuilt the counts of events by node and type: 1 row",
        "rebuilt the link index: 20 rows",
        "'cardtrace verify' checks them again",
    ]
    assert run(["verify"]) == 0
    code, out, _ = output(capsys, "reindex", "--json")
    assert (code, orjson.loads(out)) == (0, {"found": {}, "rebuilt": {}})
    with sqlite3.connect(node_home / "cardtrace.db") as connection:
        connection.execute("DELETE FROM events WHERE seq = 2")
    connection.close()
    code, out, err = output(capsys, "reindex")
    assert (code, out) == (4, "")
    one_line_error(
        err, "cardtrace: the audit found the event rows or the log wrong (event-missing 1)"
    )


@pytest.fixture
def audited_home(node_home: Path) -> tuple[list[str], str]:
    """12 events and a checkpoint; their ids, and the serial of the card of event 3."""
    ids = ingest(node_home, 1, 12)
    assert run(["checkpoint"]) == 0
    with contextlib.closing(sqlite3.connect(node_home / "cardtrace.db")) as connection:
        (leaf,) = connection.execute("SELECT leaf FROM events WHERE seq = 3").fetchone()
    return ids, str(orjson.loads(leaf)["serial"])


def test_prove_and_history_refuse_what_an_edited_index_leads_them_to(
    audited_home: tuple[list[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Event 3's id and card led to event 5: its bundle or its history would be shown as
    event 3's. Both stop in one line naming verify and reindex; reindex mends the two."""
    ids, serial = audited_home
    with contextlib.closing(sqlite3.connect("cardtrace.db")) as connection, connection:
        for table in ("event_ids", "event_id_queue"):
            connection.execute(f"UPDATE {table} SET seq = 5 WHERE seq = 3")  # noqa: S608
        for table in ("links", "link_queue"):  # the card's row (all 12 share one PIN)
            connection.execute(f"UPDATE {table} SET seq = 5 WHERE seq = 3 AND field = 'card'")  # noqa: S608
    for args in (
        ["prove", "--event", ids[3], "--out", "p.json"],
        ["history", "--issuer", "cmcc", "--serial", serial],
    ):
        code, _, err = output(capsys, *args)
        assert code == 4, err
        one_line_error(err, "leads this", "at seq 5", "cardtrace reindex")
    assert not Path("p.json").exists()
    assert run(["reindex"]) == 0
    assert run(["prove", "--event", ids[3], "--out", "p.json"]) == 0
    assert run(["verify"]) == 0


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(target=st.sampled_from(PROTECTED_VALUES), pick=st.integers(0, 10_000), change=st.integers())
def test_every_command_on_the_log_meets_an_edited_value_in_one_line(
    audited_home: tuple[list[str], str],
    capsys: pytest.CaptureFixture[str],
    target: tuple[str, str, tuple[str, ...]],
    pick: int,
    change: int,
) -> None:
    ids, serial = audited_home
    table, column, keys = target
    order = ", ".join(keys)
    with contextlib.closing(sqlite3.connect("cardtrace.db")) as connection:
        query = f"SELECT {order}, {column} FROM {table} ORDER BY {order}"  # noqa: S608
        rows = connection.execute(query).fetchall()
        *key, value = rows[pick % len(rows)]
        where = " AND ".join(f"{name} = ?" for name in keys)
        update = f"UPDATE {table} SET {column} = ? WHERE {where}"  # noqa: S608
        with connection:
            connection.execute(update, (changed(value, change), *key))
        try:
            code, _, err = output(capsys, "verify")
            assert code == 4
            commands = [
                ["stats"],
                ["history", "--issuer", "cmcc", "--serial", serial],
                ["prove", "--event", ids[3], "--out", "p.json"],
                ["reindex"],
                ["verify", "--json"],
                ["checkpoint"],  # refuses a log whose state and tiles do not hold together
            ]
            for args in commands:
                code, _, err = output(capsys, *args)
                assert code in {0, 2, 4}, (args, err)
                if code:
                    one_line_error(err)
                assert "internal error" not in err, (args, err)
        finally:
            with connection:
                connection.execute(update, (value, *key))
                connection.execute("DELETE FROM checkpoints WHERE id > 1")
    assert run(["verify"]) == 0


# --- witnessing -----------------------------------------------------------------------------


def test_witnessing_between_two_nodes_by_files(
    node_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    origin, witness = node_home / "origin", node_home / "witness"
    origin.mkdir()
    witness.mkdir()
    monkeypatch.chdir(origin)
    ingest(origin, 1, 4)
    run(["checkpoint"])
    _, origin_key, _ = output(capsys, "keys", "verifier")
    assert run(["consistency", "--from", "0", "--out", str(node_home / "r1.txt")]) == 0

    monkeypatch.chdir(witness)
    monkeypatch.setenv("CARDTRACE_NODE_ID", "w1")
    run(["keys", "init"])  # a witness makes its key before it publishes it
    _, witness_key, _ = output(capsys, "keys", "verifier", "--witness")
    code, line, err = output(
        capsys, "witness", str(node_home / "r1.txt"), "--origin-key", origin_key.strip()
    )
    assert code == 0
    assert line.startswith("— cardtrace/w1/witness ")
    assert line.count("\n") == 1
    assert "cosigned cardtrace/local at size 4 (first seen)" in err
    (node_home / "c1.txt").write_text(line)
    code, _, err = output(capsys, "witness", str(node_home / "r1.txt"), "--origin-key", "x")
    assert code == 2
    one_line_error(err, "--origin-key")

    monkeypatch.chdir(origin)
    monkeypatch.delenv("CARDTRACE_NODE_ID")
    code, _, err = output(capsys, "cosignature", "add", str(node_home / "c1.txt"))
    assert code == 2
    one_line_error(err, "not a trusted witness key")
    monkeypatch.setenv("CARDTRACE_WITNESS_KEYS", orjson.dumps([witness_key.strip()]).decode())
    code, out, _ = output(capsys, "cosignature", "add", str(node_home / "c1.txt"))
    assert code == 0
    assert "cardtrace/w1/witness cosigned checkpoint #1 (size 4)" in out
    code, listing, _ = output(capsys, "checkpoint", "--list", "--json")
    assert orjson.loads(listing)[0]["witnessed"] is True
    ids = ingest(origin, 5, 3)
    run(["checkpoint"])
    run(["consistency", "--from", "0", "--out", str(node_home / "stale.txt")])
    run(["consistency", "--from", "4", "--out", str(node_home / "r2.txt")])
    run(["prove", "--event", ids[0], "--out", str(node_home / "b.json")])

    monkeypatch.chdir(witness)
    monkeypatch.setenv("CARDTRACE_NODE_ID", "w1")
    code, _, err = output(
        capsys, "witness", str(node_home / "stale.txt"), "--origin-key", origin_key.strip()
    )
    assert code == 2
    one_line_error(err, "last cosigned cardtrace/local at size 4", "--from 4")
    code, line, _ = output(
        capsys, "witness", str(node_home / "r2.txt"), "--origin-key", origin_key.strip()
    )
    assert code == 0
    (node_home / "c2.txt").write_text(line)

    monkeypatch.chdir(origin)
    monkeypatch.delenv("CARDTRACE_NODE_ID")
    assert run(["cosignature", "add", str(node_home / "c2.txt")]) == 0
    bundle = str(node_home / "b.json")
    code, out, _ = output(
        capsys, "verify-bundle", bundle, "--key", origin_key.strip(), "--min-witnesses", "1"
    )
    assert code == 4  # proven before the witness cosigned its checkpoint
    run(["prove", "--event", ids[0], "--out", bundle])
    code, out, _ = output(
        capsys,
        "verify-bundle",
        bundle,
        "--key",
        origin_key.strip(),
        "--witness-key",
        witness_key.strip(),
        "--min-witnesses",
        "1",
    )
    assert code == 0, out
    assert "ok cosignature 0: cardtrace/w1/witness cosigned" in out
    assert run(["verify"]) == 0


def _witness_request(node_home: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A consistency request of a log in ``origin`` at r.txt; the origin's verifier key."""
    origin = node_home / "origin"
    origin.mkdir()
    os.chdir(origin)
    ingest(origin, 1, 2)
    run(["checkpoint"])
    _, origin_key, _ = output(capsys, "keys", "verifier")
    assert run(["consistency", "--from", "0", "--out", str(node_home / "r.txt")]) == 0
    os.chdir(node_home)
    return origin_key.strip()


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("DATABASE_URL=sqlite:///missing/w.db", "its folder missing does not exist"),
        ("KEY_DIR=a-file", "the key folder a-file is a file, not a folder"),
        ("KEY_DIR=a-file/keys", "cannot be made: a-file is a file, not a folder"),
        # No file can be made in /proc, not even by root, whom permission bits let through.
        ("KEY_DIR=/proc/cardtrace-keys", "cannot create keys in the key folder /proc/"),
    ],
)
def test_a_witness_refused_for_its_database_or_key_folder_makes_neither(
    node_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    said: str,
) -> None:
    origin_key = _witness_request(node_home, capsys)
    (node_home / "a-file").write_text("not a folder\n")
    name, value = setting.split("=", 1)
    monkeypatch.setenv(f"CARDTRACE_{name}", value)
    code, out, err = output(capsys, "witness", "r.txt", "--origin-key", origin_key)
    assert (code, out) == (2, "")
    one_line_error(err, said)
    assert sorted(p.name for p in node_home.iterdir()) == ["a-file", "origin", "r.txt"]
    assert (node_home / "a-file").read_text() == "not a folder\n"


def test_a_production_witness_without_its_key_makes_no_database(
    node_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    origin_key = _witness_request(node_home, capsys)
    monkeypatch.setenv("CARDTRACE_ENVIRONMENT", "production")
    code, _, err = output(capsys, "witness", "r.txt", "--origin-key", origin_key)
    assert code == 2
    one_line_error(err, "key witness.key not found", "'cardtrace keys init'")
    assert sorted(p.name for p in node_home.iterdir()) == ["origin", "r.txt"]


def test_the_demo_ends_with_an_offline_verified_proof(
    node_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = "demo 世界 [b]x"  # a space, Chinese and what rich would read as markup
    code, out, _ = output(capsys, "demo", "--folder", folder, "--cards", "100", "--seed", "3")
    assert code == 0
    step = out[out.index("4. Sign a checkpoint") :]
    assert "leaf index" in step
    assert "VALID" in step
    assert (node_home / folder / "evidence.json").exists()
    (line,) = [line for line in step.splitlines() if line.startswith("Try it: ")]
    command = shlex.split(line.removeprefix("Try it: "))  # pasted into a shell as printed
    assert command[:3] == ["cardtrace", "verify-bundle", f"{folder}/evidence.json"]
    assert run(command[1:]) == 0


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--seed", "-1"], "Invalid value for '--seed': -1 is not in the range x>=0 (see"),
        (["--cards", "10000001"], "Invalid value for '--cards': 10000001 is not in the range"),
        (["--folder", "/proc/demo"], "cannot make the demo folder /proc/demo: No such file or"),
    ],
)
def test_the_demo_refuses_bad_options_in_one_line_before_making_anything(
    node_home: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    code, out, err = output(capsys, "demo", "--folder", "d", *args)
    assert (code, out) == (2, "")
    one_line_error(err, said)
    assert list(node_home.iterdir()) == []
