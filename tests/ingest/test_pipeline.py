"""The pipeline: every bad record rejected with file, line, field and reason, the rest stored."""

from __future__ import annotations

import csv
import gc
import gzip
import itertools
import json
import os
import signal
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import factories as make
from cardtrace.crypto.tokens import Tokenizer
from cardtrace.domain.events import EVENT_MODELS, INTEGER_FIELDS, LIST_FIELDS
from cardtrace.domain.handling import Personal, Secret, handling_of
from cardtrace.errors import ConfigurationError, InvalidInput
from cardtrace.ingest import pipeline
from cardtrace.ingest.pipeline import IngestSummary, ingest_files, prepare_batches
from cardtrace.ingest.protect import ProtectionKeys
from cardtrace.ingest.readers import CSV_LIST_SEPARATOR, read_records
from cardtrace.sim import generate
from cardtrace.store.database import Database

KEY = bytes(range(32))


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = Database.open(database_url)
    yield opened
    opened.close()


KEYS = ProtectionKeys(KEY, KEY, "testkey")
#: Encodings a run may name, for the fuzz tests: multi-byte ones, and one reading any byte.
ENCODINGS = st.sampled_from(["utf-8", "gb18030", "big5", "shift_jis", "iso8859-1"])


def write_jsonl(path: Path, lines: Sequence[bytes | dict[str, Any]]) -> Path:
    path.write_bytes(
        b"".join(
            (line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines
        )
    )
    return path


def run(
    database: Database,
    tmp_path: Path,
    *files: Path,
    batch: int = 2,
    workers: int = 0,
    encoding: str = "utf-8",
) -> IngestSummary:
    return ingest_files(
        files,
        database,
        KEYS,
        rejects=tmp_path / "rejects.jsonl",
        batch_size=batch,
        workers=workers,
        encoding=encoding,
    )


def rejects(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "rejects.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def future(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


BAD_RECORDS: list[tuple[bytes | dict[str, Any], str | None, str]] = [
    (b'{"type": "card.sold", ', None, "malformed JSON"),
    (b'{"a" x}', None, "malformed JSON: expected `:` at column 6"),  # not "line 1"
    (b'{"type": "card.sold", "x": ' + b"[" * 100_000, None, "recursion limit exceeded at column"),
    (b"[1, 2, 3]", None, "record is not a JSON object"),
    (b"\xff\xfe\x00garbage", None, "line is not valid UTF-8"),
    ({"type": "card.stolen"}, "type", "unknown event type"),
    ({"node_id": "x"}, "type", "missing event type"),
    (make.card_sold(face_value="ten"), "face_value", "valid integer"),
    (make.card_sold(price_fen=-5), "price_fen", "greater than or equal to 0"),
    (make.card_recycled(seller_id_number="110105199003071230"), "seller_id_number", "check digit"),
    (
        make.card_recycled(seller_id_number=make.resident_id("11010519900230123")),
        "seller_id_number",
        "not a real date",
    ),
    (make.card_recycled(seller_msisdn="10912345678"), "seller_msisdn", "prefix"),
    (make.card_sold(occurred_at=future(2), recorded_at=future(2)), "occurred_at", "future"),
    (
        make.card_sold(recorded_at="2025-01-01T00:00:00+08:00"),
        None,
        "recorded_at is earlier than occurred_at",
    ),
    (make.card_sold(unexpected="x"), "unexpected", "Extra inputs are not permitted"),
    # JSON values must have their field's JSON type: no true for 1, no text for a number.
    (make.card_sold(price_fen=True), "price_fen", "valid integer"),
    (make.card_sold(price_fen="10000"), "price_fen", "valid integer"),
    (make.card_sold(face_value=100.0), "face_value", "valid integer"),
    # Times are ISO 8601 text: a count of seconds would be read as seconds or ms by size.
    (make.card_sold(occurred_at=1740794400), "occurred_at", "time must be ISO 8601 text"),
    (make.card_sold(occurred_at="1740794400"), "occurred_at", "time must be ISO 8601 text"),
    (
        make.card_sold(occurred_at="20250301T100000+0800"),
        "occurred_at",
        "time must be ISO 8601 text in the extended format (YYYY-MM-DDThh:mm:ss)",
    ),
    (make.card_sold(occurred_at="2025-13-01T00:00:00+08:00"), "occurred_at", "not a valid"),
    (make.card_sold(occurred_at="2025-03-01T10:00:00"), "occurred_at", "carry a UTC offset"),
    # Times that exist where they are written but not in UTC (they used to crash the run).
    (make.card_sold(occurred_at="0001-01-01T00:00:00+08:00"), "occurred_at", "out of range"),
    (
        make.card_sold(recorded_at="9999-12-31T23:59:59-08:00"),
        "recorded_at",
        "time is out of range in UTC",
    ),
    (
        orjson.dumps(make.card_sold()).replace(b'"pin":', b'"pin":"999","pin":', 1),
        "pin",
        "field appears twice in the record",
    ),
    # A serial is kept in clear: one with the issuer's PIN length is a PIN in its column.
    (
        make.card_sold(serial="3" * 18, pin="4" * 17),
        "serial",
        "serial has 18 characters, the length of a cmcc PIN (cmcc serials have 17): refused",
    ),
    (make.card_sold(issuer="344491909280146408"), "issuer", "should match pattern"),
    # Nor may any other clear field hold the PIN: the ledger keeps clear fields for good.
    (
        make.card_sold(pin="987654321098765432", source_id="987654321098765432"),
        "source_id",
        "source_id holds the card's PIN: refused, since source_id is kept in clear",
    ),
    (
        make.card_sold(pin="9876 5432 1098 765432", merchant_id="987654321098765432"),
        "merchant_id",
        "merchant_id holds the card's PIN",
    ),
    (
        make.card_sold(pin="987654321098765432", order_ref="ORD-987654321098765432-1"),
        "order_ref",
        "order_ref holds the card's PIN",
    ),
    (
        make.card_redeemed(
            issuer="cmcc-zhejiang", serial="1" * 10, pin="12345678", agent_id="12345678"
        ),
        "agent_id",
        "agent_id holds the card's PIN",
    ),
    # Nor the record's personal data, in the forms a source writes it elsewhere.
    (
        make.card_recycled(source_id="R-13800138000", seller_msisdn="+86 138 0013 8000"),
        "source_id",
        "source_id holds the record's seller_msisdn (personal data): refused, since "
        "source_id is kept in clear and seller_msisdn is only sealed",
    ),
    (  # the PIN and the phone number in their printed groups
        make.card_sold(pin="987654321098765432", order_ref="ORD-9876-5432-1098-7654-32"),
        "order_ref",
        "order_ref holds the card's PIN",
    ),
    (
        make.card_recycled(source_id="138-0013-8000", seller_msisdn="13800138000"),
        "source_id",
        "source_id holds the record's seller_msisdn (personal data)",
    ),
    (
        make.card_recycled(premises_id=make.resident_id()),
        "premises_id",
        "premises_id holds the record's seller_id_number (personal data)",
    ),
    (
        make.card_sold(order_ref=f"PAY{make.bank_card()}"),
        "order_ref",
        "order_ref holds the record's payment_account (personal data)",
    ),
    (  # an Alipay account that is a phone number, written bare in the reference
        make.card_recycled(
            seller_msisdn=None, payout_account="alipay:13700137000", source_id="13700137000"
        ),
        "source_id",
        "source_id holds the record's payout_account (personal data)",
    ),
    (
        make.usage_summarized(source_id="13900139000-2025-03", msisdn="13900139000"),
        "source_id",
        "source_id holds the record's msisdn (personal data)",
    ),
]


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"serial": None}, None, None),  # a card known by its PIN alone
        ({"pin": None}, None, None),
        ({"serial": "1234-5678 9012"}, None, None),
        ({"serial": None, "pin": None}, None, "a card needs a serial or a pin"),
        ({"serial": "1" * 33}, "serial", "at most 32 characters"),
        ({"pin": "9" * 40}, "pin", "at most 32 characters"),
        ({"serial": "12_34"}, "serial", "card serial may contain only letters A-Z and digits"),
        ({"pin": "--"}, "pin", "card PIN is empty"),
        ({"serial": 12345}, "serial", "valid string"),
    ],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_card_serials_and_pins_are_checked_field_by_field(
    fields: dict[str, Any], field: str | None, reason: str | None, as_json: bool
) -> None:
    record = make.card_sold(**fields)
    data: bytes | dict[str, Any] = orjson.dumps(record) if as_json else record
    if reason is None:
        pipeline.validate(data, datetime.now(UTC))
        return
    with pytest.raises(pipeline.Rejected) as rejected:
        pipeline.validate(data, datetime.now(UTC))
    assert rejected.value.field == field
    assert reason in rejected.value.reason


@pytest.mark.parametrize(("record", "field", "reason"), BAD_RECORDS)
def test_a_bad_record_is_rejected_with_field_and_reason_and_the_rest_stored(
    database: Database,
    tmp_path: Path,
    record: bytes | dict[str, Any],
    field: str | None,
    reason: str,
) -> None:
    good = [make.card_sold(source_id=f"ok-{n}") for n in range(3)]
    path = write_jsonl(tmp_path / "in.jsonl", [good[0], record, good[1], good[2]])
    summary = run(database, tmp_path, path)
    assert (summary.accepted, summary.rejected, summary.duplicates) == (3, 1, 0)
    (reject,) = rejects(tmp_path)
    assert reject["file"] == str(path)
    assert reject["line"] == 2
    assert reject["field"] == field
    assert reason in reject["reason"]
    assert summary.rejected_by_field == {field or pipeline.WHOLE_RECORD: 1}
    assert database.count() == 3


def test_a_file_name_that_is_not_utf8_is_written_escaped_in_rejects(
    database: Database, tmp_path: Path
) -> None:
    name = b"shop-\xb5\xea.jsonl"  # GBK for a shop, as a Windows archive unpacks it
    path = write_jsonl(tmp_path / os.fsdecode(name), [make.card_sold(source_id="1"), b"{oops"])
    summary = run(database, tmp_path, path)
    assert (summary.accepted, summary.rejected) == (1, 1)
    (reject,) = rejects(tmp_path)
    assert reject["file"] == str(tmp_path / "shop-\\xb5\\xea.jsonl")
    # A conflict (the same record changed) is described the same way.
    write_jsonl(path, [make.card_sold(source_id="1", price_fen=1)])
    assert run(database, tmp_path, path).conflicts == 1
    assert rejects(tmp_path)[0]["file"] == reject["file"]


def test_reject_lines_never_carry_the_input(database: Database, tmp_path: Path) -> None:
    bad = make.card_recycled(seller_id_number="110105199003071230", pin="123456789012345678")
    run(database, tmp_path, write_jsonl(tmp_path / "in.jsonl", [bad]))
    text = (tmp_path / "rejects.jsonl").read_text()
    for secret in ("110105199003071230", "123456789012345678", "13800138000", "测试甲"):
        assert secret not in text


@pytest.mark.parametrize("where", ["missing/rejects.jsonl", ".", "/proc/rejects.jsonl"])
def test_an_unwritable_rejects_file_stops_the_run_before_anything_is_stored(
    database: Database, tmp_path: Path, where: str
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [make.card_sold(), b"{oops"])
    target = tmp_path / where
    with pytest.raises(InvalidInput, match="rejects file"):
        ingest_files([path], database, KEYS, rejects=target, batch_size=2)
    assert database.count() == 0


def test_a_full_disk_stops_the_run_keeping_whole_transactions_and_a_rerun_ends_it(
    tmp_path: Path,
) -> None:
    # SQLite's page limit gives what a full disk gives: SQLITE_FULL at the next write.
    database = Database.open(f"sqlite:///{tmp_path / 'full.db'}")
    first = write_jsonl(tmp_path / "first.jsonl", [make.card_sold(source_id="a")])
    assert run(database, tmp_path, first).accepted == 1
    limit = f"PRAGMA max_page_count = {database_pages(database) + 1}"
    listen = sqlalchemy.event.listen
    listen(database.engine, "connect", lambda connection, _: connection.execute(limit))
    database.engine.dispose()  # new connections, each with the limit
    sold = [make.card_sold(source_id=str(n)) for n in range(2_000)]
    second = write_jsonl(tmp_path / "second.jsonl", sold)
    with pytest.raises(ConfigurationError) as raised:
        run(database, tmp_path, second, batch=500)
    assert str(raised.value) == (
        "database error: database or disk is full (the transaction under way was undone "
        "and those before it are kept; free space where the database is and run the "
        "command again: an ingest stores only what is missing)"
    )
    database.close()
    database = Database.open(f"sqlite:///{tmp_path / 'full.db'}")  # room again
    assert database.count() == database.log_size() == 1
    summary = run(database, tmp_path, first, second, batch=500)
    assert (summary.accepted, summary.duplicates) == (2_000, 1)
    database.close()


def database_pages(database: Database) -> int:
    with database.engine.connect() as connection:
        return int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())


def test_a_rejects_file_that_is_not_a_regular_file_is_written_to_never_removed(
    database: Database, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [make.card_sold(), b"{oops"])
    null = Path("/dev/null")
    summary = ingest_files([path], database, KEYS, rejects=null, batch_size=2)
    assert (summary.accepted, summary.rejected) == (1, 1)
    assert null.is_char_device()


def test_rejects_that_cannot_be_written_stop_the_run_before_their_batch_is_stored(
    database: Database, tmp_path: Path
) -> None:
    full = Path("/dev/full")  # every write fails: no space left on device
    path = write_jsonl(tmp_path / "in.jsonl", [make.card_sold(), b"{oops"])
    with pytest.raises(InvalidInput, match="cannot write the rejects file /dev/full: No space"):
        ingest_files([path], database, KEYS, rejects=full, batch_size=2)
    assert database.count() == 0
    assert full.is_char_device()


def test_a_rejects_file_of_an_earlier_run_never_describes_this_one(
    database: Database, tmp_path: Path
) -> None:
    run(database, tmp_path, write_jsonl(tmp_path / "bad.jsonl", [b"{oops"]))
    assert len(rejects(tmp_path)) == 1
    summary = run(database, tmp_path, write_jsonl(tmp_path / "good.jsonl", [make.card_sold()]))
    assert (summary.accepted, summary.rejected) == (1, 0)
    assert not (tmp_path / "rejects.jsonl").exists()


def test_reingesting_stores_nothing_twice_and_says_so(database: Database, tmp_path: Path) -> None:
    lines = [make.card_sold(source_id=f"s-{n}") for n in range(5)]
    path = write_jsonl(tmp_path / "in.jsonl", [*lines, lines[0]])
    first = run(database, tmp_path, path)
    second = run(database, tmp_path, path)
    assert (first.accepted, first.duplicates) == (5, 1)
    assert (second.accepted, second.duplicates) == (0, 6)
    assert database.count() == 5


def test_accepted_types_count_only_the_records_stored(database: Database, tmp_path: Path) -> None:
    sold, recycled = make.card_sold(source_id="s-1"), make.card_recycled(source_id="r-1")
    run(database, tmp_path, write_jsonl(tmp_path / "old.jsonl", [sold]))
    path = write_jsonl(tmp_path / "new.jsonl", [sold, recycled, make.card_sold(source_id="s-2")])
    summary = run(database, tmp_path, path, batch=10)
    assert summary.accepted_by_type == {"card.sold": 1, "card.recycled": 1}


def merges(monkeypatch: pytest.MonkeyPatch, database: Database, method: str) -> list[int]:
    """The row counts ``database.<method>`` (a merge of a queue) moves, call by call."""
    moved: list[int] = []
    merge = getattr(database, method)

    def recording() -> int:
        moved.append(merge())
        return moved[-1]

    monkeypatch.setattr(database, method, recording)
    return moved


def test_a_long_run_merges_its_links_at_doubling_queue_sizes(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "LINK_MERGE_ROWS", 4)
    merged = merges(monkeypatch, database, "integrate_links")
    # 4 link rows an event (card, PIN, merchant, account), one event a transaction.
    lines: list[bytes | dict[str, Any]] = [make.card_sold(source_id=f"s-{n}") for n in range(14)]
    run(database, tmp_path, write_jsonl(tmp_path / "in.jsonl", lines), batch=1)
    assert merged == [4, 8, 16, 28]  # at 4, 8 and 16 queued rows, then the rest at the end
    assert database.link_count() == 56
    merchant = Tokenizer(KEY).token("party", "m-7")
    assert len(database.events_by_token(merchant)) == 14


def test_ids_merged_during_a_run_still_catch_re_sent_records(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "ID_MERGE_ROWS", 3)
    merged = merges(monkeypatch, database, "integrate_ids")
    lines: list[bytes | dict[str, Any]] = [make.card_sold(source_id=f"s-{n}") for n in range(7)]
    path = write_jsonl(tmp_path / "in.jsonl", [*lines, lines[1]])
    first = run(database, tmp_path, path, batch=1)
    assert merged == [3, 3, 1]  # every 3 accepted events, then the rest at the end
    second = run(database, tmp_path, path, batch=1)
    assert (first.accepted, first.duplicates, second.accepted, second.duplicates) == (7, 1, 0, 8)
    assert database.count() == 7


def test_events_out_of_time_order_are_accepted(database: Database, tmp_path: Path) -> None:
    late = make.card_sold(
        source_id="late",
        occurred_at="2025-06-01T00:00:00+08:00",
        recorded_at="2025-06-01T00:00:00+08:00",
    )
    early = make.card_sold(source_id="early")
    summary = run(database, tmp_path, write_jsonl(tmp_path / "in.jsonl", [late, early]))
    assert summary.accepted == 2


def test_empty_files_are_fine(database: Database, tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_bytes(b"")
    summary = run(database, tmp_path, tmp_path / "e.jsonl")
    assert (summary.files, summary.accepted, summary.rejected) == (1, 0, 0)
    assert not (tmp_path / "rejects.jsonl").exists()


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """``rows`` as CSV under a header of the first row's fields."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, sorted(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_csv_and_parquet_carry_the_same_events_as_jsonl(database: Database, tmp_path: Path) -> None:
    events = [make.card_sold(source_id=f"c-{n}", order_ref=None) for n in range(3)]
    columns = sorted({key for event in events for key in event})
    with (tmp_path / "in.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in e.items()} for e in events)
    parquet = [{**e, "source_id": e["source_id"] + "-pq"} for e in events]
    pq.write_table(pa.Table.from_pylist(parquet), tmp_path / "in.parquet")
    summary = run(database, tmp_path, tmp_path / "in.csv", tmp_path / "in.parquet")
    assert (summary.accepted, summary.rejected) == (6, 0), rejects(tmp_path)


def test_csv_and_parquet_refuse_flags_for_numbers_and_numbers_for_times(
    database: Database, tmp_path: Path
) -> None:
    good = make.card_sold(source_id="ok", order_ref=None)
    epoch = {**good, "source_id": "epoch", "occurred_at": "1740794400"}
    flagged = {**good, "source_id": "flag", "price_fen": "true"}
    write_csv(tmp_path / "in.csv", [good, epoch, flagged])
    flags = [{**good, "source_id": f"pq-{flag}", "price_fen": flag} for flag in (False, True)]
    pq.write_table(pa.Table.from_pylist(flags), tmp_path / "flags.parquet")
    epochs = pa.Table.from_pylist([{**good, "source_id": "pq-epoch", "occurred_at": 1740794400}])
    pq.write_table(epochs, tmp_path / "epoch.parquet")
    files = [tmp_path / name for name in ("in.csv", "flags.parquet", "epoch.parquet")]
    summary = run(database, tmp_path, *files)
    assert (summary.accepted, summary.rejected) == (1, 5)
    found = {(Path(r["file"]).name, r["line"], r["field"]) for r in rejects(tmp_path)}
    assert found == {
        ("in.csv", 3, "occurred_at"),
        ("in.csv", 4, "price_fen"),
        ("flags.parquet", 1, "price_fen"),
        ("flags.parquet", 2, "price_fen"),
        ("epoch.parquet", 1, "occurred_at"),
    }


def test_a_csv_number_must_be_digits_as_a_json_number_must_be_a_number(
    database: Database, tmp_path: Path
) -> None:
    good = make.card_sold(source_id="ok", order_ref=None)
    spellings = ["04650", "4_650", "+4650", " 4650", "4650.0", "-4650"]
    rows = [{**good, "source_id": f"c-{n}", "price_fen": text} for n, text in enumerate(spellings)]
    write_csv(tmp_path / "in.csv", rows)
    summary = run(database, tmp_path, tmp_path / "in.csv")
    assert (summary.accepted, summary.rejected) == (1, 5)
    found = [(r["line"], r["field"], r["reason"].split(",")[0]) for r in rejects(tmp_path)]
    digits = "number must be written in digits alone"
    assert found == [(line, "price_fen", digits) for line in (3, 4, 5, 6)] + [
        (7, "price_fen", "Input should be greater than or equal to 0")
    ]


def test_a_csv_row_with_wrong_cell_count_is_rejected(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("type,node_id\ncard.sold,a,extra\n")
    summary = run(database, tmp_path, path)
    assert summary.rejected == 1
    assert rejects(tmp_path)[0]["reason"] == "row has 3 cells, header has 2"


def test_a_rejected_csv_record_over_several_lines_names_its_last_line(
    database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "in.csv"
    path.write_text('type,node_id\ncard.sold,"a\ncard.sold,b\ncard.sold,c\n')
    summary = run(database, tmp_path, path)
    assert summary.rejected == 1
    (reject,) = rejects(tmp_path)
    assert (reject["line"], reject["last_line"]) == (2, 4)


def test_warnings_are_counted_not_rejected(database: Database, tmp_path: Path) -> None:
    odd = make.card_sold(issuer="newcarrier", serial="123")
    summary = run(database, tmp_path, write_jsonl(tmp_path / "in.jsonl", [odd]))
    assert summary.accepted == 1
    assert any(key.startswith("issuer") for key in summary.warnings)


def test_id_numbers_of_note_are_warnings_of_both_fields(database: Database, tmp_path: Path) -> None:
    """A legacy number, and a county code GB/T 2260's list lacks (the standard's example)."""
    records = [
        make.card_recycled(seller_id_number="340524800101001"),
        make.subscriber_registered(subject_id_number=make.resident_id("34052419800101001")),
    ]
    summary = run(database, tmp_path, write_jsonl(tmp_path / "in.jsonl", records))
    assert (summary.accepted, summary.rejected) == (2, 0)
    unlisted = "address code is not a county code in GB/T 2260's list, past or present"
    assert summary.warnings == {
        "seller_id_number: legacy 15-digit ID number": 1,
        f"seller_id_number: {unlisted}": 1,
        f"subject_id_number: {unlisted}": 1,
    }


def render_json(members: list[tuple[str, Any]], spaces: list[str]) -> bytes:
    """A JSON object of ``members`` in order (repeats kept), with white space as given."""
    pad = itertools.cycle(spaces)
    body = ",".join(
        f"{next(pad)}{json.dumps(k)}{next(pad)}:{next(pad)}{json.dumps(v, ensure_ascii=False)}"
        for k, v in members
    )
    return f"{{{body}{next(pad)}}}".encode()


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=' ,:"\\[]测试甲\t', min_size=1, max_size=12).filter(str.strip),
    cells=st.none() | st.lists(st.sampled_from(["c1", "c,2", '"c3"', "[c4]"]), max_size=4),
    spaces=st.lists(st.sampled_from(["", " ", "\t", "\r\n"]), min_size=1, max_size=9),
    repeat=st.none() | st.integers(min_value=0, max_value=20),
)
def test_a_json_record_naming_a_field_twice_is_rejected_and_only_then(
    text: str, cells: list[str] | None, spaces: list[str], repeat: int | None
) -> None:
    # Commas, colons, brackets and quotes in values, lists of any length and white space
    # around keys must not hide a repeat from the fast count, nor make one up.
    if cells is None:
        record = make.card_recycled(seller_name=text)
    else:
        record = make.usage_summarized(top_cells=cells)
    members = list(record.items())
    if repeat is not None:
        members.append(members[repeat % len(members)])
    data = render_json(members, spaces)
    now = datetime.now(UTC)
    if repeat is None:
        assert pipeline.validate(data, now) == pipeline.validate(orjson.dumps(record), now)
    else:
        with pytest.raises(pipeline.Rejected) as rejected:
            pipeline.validate(data, datetime.now(UTC))
        assert rejected.value.field == members[-1][0]
        assert rejected.value.reason == "field appears twice in the record"


@pytest.mark.parametrize(
    "record", [make.card_recycled(), make.usage_summarized(), make.usage_summarized(top_cells=[])]
)
def test_a_record_with_no_repeat_is_not_parsed_twice(
    record: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The comma count decides the common case; parsing again costs more than validating.
    def parse(*_: object, **__: object) -> None:
        raise AssertionError("the record was parsed a second time")

    monkeypatch.setattr("json.loads", parse)
    pipeline.validate(orjson.dumps(record), datetime.now(UTC))


@pytest.fixture(scope="module")
def one_record_per_type(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """A valid record of every event type a synthetic world writes."""
    out = tmp_path_factory.mktemp("world")
    generate(seed=5, cards=150, out=out)
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(out.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            record = orjson.loads(line)
            if isinstance(record, dict) and "card_id" not in record:
                found.setdefault(str(record.get("type")), record)
    valid = [r for r in found.values() if _accepted(r)]
    assert len(valid) >= 8
    return valid


def test_every_hidden_value_copied_into_a_clear_field_is_refused(
    one_record_per_type: list[dict[str, Any]],
) -> None:
    # Every PIN and personal field of every event type, as sent, copied into source_id
    # (ASCII values only: source_id takes no other) and built into it: both refused.
    now = datetime.now(UTC)
    tried = set()
    for record in one_record_per_type:
        event = pipeline.validate(record, now)
        assert event.refusal() is None
        for name, info in type(event).model_fields.items():
            value = record.get(name)
            hidden = isinstance(handling_of(info), Personal | Secret)
            if not hidden or not isinstance(value, str) or not value.isascii() or " " in value:
                continue
            shapes = [value] + ([f"REF-{value}-1"] if len(value) >= 11 else [])
            for source_id in shapes:
                copied = pipeline.validate({**record, "source_id": source_id}, now)
                refusal = copied.refusal()
                assert refusal is not None, (record["type"], name)
                whose = "card" if name == "pin" else "record"
                assert refusal[0] == "source_id"
                assert refusal[1].startswith(f"source_id holds the {whose}'s")
            tried.add(name)
    assert {"pin", "msisdn", "target_msisdn", "seller_id_number", "imsi", "iccid", "ip"} <= tried


def _accepted(record: dict[str, Any]) -> bool:
    try:
        pipeline.validate(record, datetime.now(UTC))
    except pipeline.Rejected:
        return False
    return True


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), as_json=st.booleans())
def test_any_json_value_in_any_field_is_an_event_or_a_rejection_never_a_crash(
    one_record_per_type: list[dict[str, Any]], data: st.DataObject, as_json: bool
) -> None:
    record = dict(data.draw(st.sampled_from(one_record_per_type)))
    for name in data.draw(st.lists(st.sampled_from(sorted(record)), min_size=1, max_size=3)):
        record[name] = data.draw(JSON_VALUES)
    payload: bytes | dict[str, Any] = json.dumps(record).encode() if as_json else record
    try:
        event = pipeline.validate(payload, datetime.now(UTC))
    except pipeline.Rejected as rejected:
        at_fault = rejected.field
    else:
        at_fault = None
        KEYS.protector().protect(event)  # and what validates, protects
        event.warnings()
    # A rejection names a field of the record (or a part of one), or the record itself.
    assert at_fault is None or at_fault.split(".")[0] in record


def value_of_its_type(name: str) -> st.SearchStrategy[Any]:
    """A value for field ``name`` of the JSON type the field takes, that each format can
    carry: CSV has no types, no empty text (an empty cell is no value) and splits list
    cells on ';'."""
    # Any text, and text of the letters, digits and marks ids and references are made of.
    text = st.text(min_size=1, max_size=40) | st.from_regex(
        r"[A-Za-z0-9:._-]{1,20}", fullmatch=True
    )
    if name in INTEGER_FIELDS:
        return st.none() | st.integers(-(2**40), 2**40)
    if name in LIST_FIELDS:
        item = text.filter(lambda t: CSV_LIST_SEPARATOR not in t)
        return st.none() | st.lists(item, min_size=1, max_size=3)
    return st.none() | text


def written(record: dict[str, Any], folder: Path) -> dict[str, Path]:
    """``record`` as the one record of a JSON Lines, a CSV and a Parquet file."""
    folder.mkdir(exist_ok=True)
    paths = {kind: folder / f"one.{kind}" for kind in ("jsonl", "csv", "parquet")}
    present = {name: value for name, value in record.items() if value is not None}
    paths["jsonl"].write_bytes(orjson.dumps(present) + b"\n")
    with paths["csv"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(record)
        writer.writerow(
            [
                ""
                if value is None
                else CSV_LIST_SEPARATOR.join(value)
                if isinstance(value, list)
                else str(value)
                for value in record.values()
            ]
        )
    pq.write_table(pa.Table.from_pylist([record]), paths["parquet"])
    return paths


def outcome(path: Path, now: datetime) -> tuple[Any, ...]:
    """What ingest makes of the one record of ``path``: its event, or why not."""
    (record,) = read_records(path)
    if record.data is None:
        return ("problem", record.field, record.problem)
    try:
        event = pipeline.validate(record.data, now)
    except pipeline.Rejected as rejected:
        return ("rejected", rejected.field, rejected.reason)
    return ("event", event.model_dump(mode="json"), event.refusal(), event.warnings())


def test_every_kind_of_record_is_the_same_event_in_every_format(
    one_record_per_type: list[dict[str, Any]], tmp_path: Path
) -> None:
    records = [*one_record_per_type, make.usage_summarized(), make.card_recycled()]
    for number, record in enumerate(records):
        paths = written(record, tmp_path / str(number))
        now = datetime.now(UTC)
        as_jsonl = outcome(paths["jsonl"], now)
        assert as_jsonl[0] == "event", as_jsonl
        assert outcome(paths["csv"], now) == outcome(paths["parquet"], now) == as_jsonl


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_record_is_the_same_event_or_the_same_rejection_in_every_format(
    one_record_per_type: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
) -> None:
    """Any values of its fields' types in any fields of a record of any type, or none:
    JSON Lines, CSV and Parquet give the same validated event (or refusal), or the same
    rejection for the same reason. No value is an empty cell, a Parquet null, and a
    member left out of the JSON (a JSON null is a value, which a list refuses)."""
    # The world's first usage summary may have no cells: one that has, to split and join.
    record = dict(data.draw(st.sampled_from([*one_record_per_type, make.usage_summarized()])))
    fields = sorted(EVENT_MODELS[record["type"]].model_fields)  # those it leaves out too
    for name in data.draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3)):
        record[name] = data.draw(value_of_its_type(name))
    now = datetime.now(UTC)
    paths = written(record, tmp_path_factory.mktemp("formats"))
    as_jsonl = outcome(paths["jsonl"], now)
    assert outcome(paths["csv"], now) == as_jsonl
    assert outcome(paths["parquet"], now) == as_jsonl


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(st.binary(max_size=200).filter(lambda b: b"\n" not in b), max_size=8),
    encoding=ENCODINGS,
)
@example(lines=[b"\xef\xbb\xbf"], encoding="utf-8")  # found here: a line of only a BOM is blank
def test_fuzzed_lines_never_crash_and_every_line_is_accounted_for(
    tmp_path: Path, lines: list[bytes], encoding: str
) -> None:
    database = Database.open("sqlite://")
    try:
        good = make.card_sold(source_id="anchor")
        path = write_jsonl(tmp_path / "fuzz.jsonl", [*lines, good])
        summary = run(database, tmp_path, path, encoding=encoding)
        # A UTF-8 byte order mark opening the file is not part of its first line.
        bom = b"\xef\xbb\xbf" if encoding == "utf-8" else b""
        read = [line.removeprefix(bom) if n == 0 else line for n, line in enumerate(lines)]
        nonblank = sum(1 for line in read if line.strip()) + 1
        assert summary.accepted + summary.rejected + summary.duplicates == nonblank
        assert summary.accepted >= 1
    finally:
        database.close()


@pytest.mark.slow
def test_worker_processes_store_the_same_events_in_a_repeatable_order_from_any_file_form(
    tmp_path: Path,
) -> None:
    lines: list[bytes | dict[str, Any]] = [make.card_sold(source_id=f"w-{n}") for n in range(40)]
    lines[7] = b"{broken"
    path = write_jsonl(tmp_path / "in.jsonl", lines)
    packed = tmp_path / "in.jsonl.gz"  # the same records, compressed
    packed.write_bytes(gzip.compress(path.read_bytes()))
    results = []
    for run_number, (workers, source) in enumerate(((0, path), (2, path), (2, packed))):
        database = Database.open(f"sqlite:///{tmp_path / f'w{run_number}.db'}")
        try:
            summary = run(database, tmp_path, source, batch=3, workers=workers)
            assert (summary.accepted, summary.rejected) == (39, 1)
            with database.engine.connect() as connection:
                query = "SELECT event_id FROM events ORDER BY seq"
                results.append(list(connection.exec_driver_sql(query).scalars()))
        finally:
            database.close()
    assert sorted(results[0]) == sorted(results[1])
    assert results[1] == results[2]
    assert rejects(tmp_path)[0]["line"] == 8


@pytest.mark.parametrize("workers", [0, 2])
def test_files_that_break_part_way_keep_what_came_before_and_the_run_goes_on(
    tmp_path: Path, workers: int
) -> None:
    lines = [orjson.dumps(make.card_sold(source_id=f"c-{n}")) + b"\n" for n in range(4000)]
    packed = gzip.compress(b"".join(lines))
    cut = tmp_path / "a-cut.jsonl.gz"
    cut.write_bytes(packed[: len(packed) * 3 // 4])
    (tmp_path / "b-bad.parquet").write_bytes(b"not parquet")
    whole = write_jsonl(tmp_path / "c-whole.jsonl", [make.card_sold(source_id="w")])
    database = Database.open(f"sqlite:///{tmp_path / 'e.db'}")
    try:
        summary = run(database, tmp_path, cut, tmp_path / "b-bad.parquet", whole, workers=workers)
        stored = database.count()
    finally:
        database.close()
    found = sorted(rejects(tmp_path), key=lambda r: str(r["file"]))  # workers interleave
    assert [(r["file"], r.get(pipeline.UNREAD_REST)) for r in found] == [
        (str(cut), True),
        (str(tmp_path / "b-bad.parquet"), True),
    ]
    assert found[1]["line"] == 1
    assert sorted(entry[:2] for entry in summary.incomplete_files) == [
        (r["file"], r["line"]) for r in found
    ]
    # Every line before the break is stored, and the file after the two broken ones.
    assert summary.accepted == stored == (found[0]["line"] - 1) + 1
    assert 0 < summary.accepted < 4000
    assert summary.as_dict()["incomplete_files"] == 2


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=400), encoding=ENCODINGS)
def test_fuzzed_csv_files_never_crash_and_every_row_is_accounted_for(
    tmp_path: Path, body: bytes, encoding: str
) -> None:
    database = Database.open("sqlite://")
    try:
        (tmp_path / "rejects.jsonl").unlink(missing_ok=True)  # tmp_path outlives an example
        path = tmp_path / "fuzz.csv"
        path.write_bytes(b"type,node_id,source_id\n" + body)
        summary = run(database, tmp_path, path, encoding=encoding)
        assert summary.accepted == 0  # no random row is a complete event
        assert summary.rejected == len(rejects(tmp_path))
    finally:
        database.close()


@pytest.mark.slow
def test_memory_stays_flat_whatever_the_file_size(tmp_path: Path) -> None:
    import tracemalloc

    peaks = []
    for count in (3_000, 12_000):
        path = write_jsonl(
            tmp_path / f"m{count}.jsonl",
            [make.card_sold(source_id=f"m-{n}", serial=make.serial(n)) for n in range(count)],
        )
        database = Database.open(f"sqlite:///{tmp_path / f'm{count}.db'}")
        try:
            tracemalloc.start()
            run(database, tmp_path, path, batch=500)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
            database.close()
    assert peaks[1] < peaks[0] * 1.5, peaks


def test_a_changed_record_under_a_stored_id_is_a_conflict_not_a_duplicate(
    database: Database, tmp_path: Path
) -> None:
    original = make.card_sold(source_id="c-1", serial="11112222333344445")
    run(database, tmp_path, write_jsonl(tmp_path / "a.jsonl", [original]))
    changed = {**original, "price_fen": 1}
    same_again = dict(reversed(list(original.items())))  # same record, other key order
    path = write_jsonl(tmp_path / "b.jsonl", [same_again, changed])
    summary = run(database, tmp_path, path)
    assert (summary.accepted, summary.duplicates, summary.conflicts) == (0, 1, 1)
    assert summary.rejected == 1
    (reject,) = rejects(tmp_path)
    assert (reject["file"], reject["line"]) == (str(path), 2)
    assert "stored with different content" in reject["reason"]
    assert database.count() == 1


@pytest.mark.parametrize("workers", [0, 2])
def test_a_dry_run_counts_what_an_ingest_then_does_and_stores_nothing(
    database: Database, tmp_path: Path, workers: int
) -> None:
    stored = [make.card_sold(source_id=f"s-{n}") for n in range(3)]
    run(database, tmp_path, write_jsonl(tmp_path / "first.jsonl", stored))
    before = (database.count(), database.log_size(), database.link_count())
    new = [make.card_sold(source_id=f"n-{n}") for n in range(3)]
    path = write_jsonl(
        tmp_path / "second.jsonl",
        [
            stored[0],  # a re-send
            {**stored[1], "price_fen": 1},  # a change to a stored record
            *new,
            new[0],  # repeated within the run, in a later batch
            {**new[1], "price_fen": 1},  # changed within the run
            b"{oops",
        ],
    )
    dry = ingest_files(
        [path],
        database,
        KEYS,
        rejects=tmp_path / "dry.jsonl",
        batch_size=2,
        workers=workers,
        dry_run=True,
    )
    assert (database.count(), database.log_size(), database.link_count()) == before
    ingested = run(database, tmp_path, path)
    assert {**dry.as_dict(), "dry_run": False} == ingested.as_dict()
    assert (dry.accepted, dry.duplicates, dry.conflicts, dry.rejected) == (3, 2, 2, 3)
    assert dry.rejected_by_field == {pipeline.WHOLE_RECORD: 3}  # two conflicts, one bad line
    assert (tmp_path / "dry.jsonl").read_bytes() == (tmp_path / "rejects.jsonl").read_bytes()


def test_two_different_records_with_one_id_in_one_batch(database: Database, tmp_path: Path) -> None:
    first = make.card_sold(source_id="c-2")
    path = write_jsonl(tmp_path / "a.jsonl", [first, {**first, "face_value": 50}])
    summary = run(database, tmp_path, path, batch=10)
    assert (summary.accepted, summary.conflicts) == (1, 1)


@pytest.mark.parametrize("bad", [b"{not json", orjson.dumps({**make.card_sold(), "price_fen": -1})])
def test_a_rejected_record_does_not_keep_its_batch_alive(tmp_path: Path, bad: bytes) -> None:
    """With the collector off, batches must be freed by reference counting alone."""
    path = write_jsonl(tmp_path / "a.jsonl", [make.card_sold(source_id="S1"), bad])
    gc.disable()
    try:
        batches = list(prepare_batches([path], KEYS, batch_size=10))
        assert [len(batch.rejects) for batch in batches] == [1]
        alive = [weakref.ref(batch) for batch in batches]
        del batches
        assert [ref() for ref in alive] == [None]
    finally:
        gc.enable()


def test_a_parquet_float_column_gives_an_integer_field_its_whole_values_only(
    database: Database, tmp_path: Path
) -> None:
    # pandas writes an integer column that has nulls as float64: its whole values count.
    good = make.card_sold(source_id="ok", order_ref=None)
    prices = [4650.0, 4650.5, float("nan"), float("inf"), None]
    rows = [{**good, "source_id": f"pq-{n}", "price_fen": p} for n, p in enumerate(prices)]
    table = pa.Table.from_pylist(rows)
    column = table.schema.get_field_index("price_fen")
    table = table.cast(table.schema.set(column, pa.field("price_fen", pa.float64())))
    pq.write_table(table, tmp_path / "in.parquet")
    summary = run(database, tmp_path, tmp_path / "in.parquet")
    assert summary.accepted == 1
    found = [(r["line"], r["field"], r["reason"]) for r in rejects(tmp_path)]
    assert found == [
        (2, "price_fen", "Input should be a valid integer, got a number with a fractional part"),
        (3, "price_fen", "Input should be a finite number"),
        (4, "price_fen", "Input should be a finite number"),
        (5, "price_fen", "Field required"),
    ]


class Stopped(BaseException):
    """What SIGTERM raises in this test, as the CLI's handler raises its own."""


def _raise_stopped(_number: int, _frame: FrameType | None) -> None:
    raise Stopped


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_just_after_a_commit_waits_until_the_commit_is_reported(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: signal.Signals
) -> None:
    # The instant a Ctrl-C could land in unnoticed: the transaction is committed and not
    # yet reported, so a stopped run said it had stored less than it had.
    path = write_jsonl(tmp_path / "a.jsonl", [make.card_sold(source_id=str(n)) for n in range(6)])
    appending = database.appending

    @contextmanager
    def stopped_after_commit() -> Iterator[Any]:
        with appending() as append:
            yield append
        signal.raise_signal(stop)

    monkeypatch.setattr(database, "appending", stopped_after_commit)
    reported: list[IngestSummary] = []
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        with pytest.raises(KeyboardInterrupt if stop == signal.SIGINT else Stopped):
            ingest_files(
                [path], database, KEYS, rejects=None, batch_size=2, on_commit=reported.append
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert [summary.accepted for summary in reported] == [2] == [database.count()]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


# -- any mix of new, re-sent, changed and bad records ----------------------------------

BAD = ["malformed", "unknown type", "check digit"]
#: A record of the property test below: sale n as first sent (0) or changed (1), or a
#: bad one (malformed JSON, an unknown type, a wrong check digit).
SENDS = st.one_of(
    st.tuples(st.just("sale"), st.integers(0, 7), st.integers(0, 1)),
    st.tuples(
        st.sampled_from(["malformed", "unknown type", "check digit"]), st.just(0), st.just(0)
    ),
)


def sent_line(kind: str, n: int, version: int) -> bytes:
    if kind == "malformed":
        return b'{"type": "card.sold",'
    if kind == "unknown type":
        return orjson.dumps({**make.card_sold(f"x-{n}"), "type": "card.stolen"})
    if kind == "check digit":
        return orjson.dumps(make.card_recycled(f"r-{n}", seller_id_number="110105194912310020"))
    return orjson.dumps(make.card_sold(f"s-{n}", serial=make.serial(n), face_value=50 + version))


@settings(max_examples=30, deadline=None)
@given(
    runs=st.lists(st.lists(st.lists(SENDS, max_size=6), min_size=1, max_size=3), max_size=3),
    batch=st.integers(1, 4),
)
def test_any_mix_of_records_is_stored_once_and_each_dry_run_foretells_its_run(
    tmp_path_factory: pytest.TempPathFactory, runs: list[list[list[Any]]], batch: int
) -> None:
    """Runs of files of new, re-sent, changed and bad records, against a model: a sale is
    stored the first time, a re-send is a duplicate, a changed one a conflict (rejected),
    a bad record rejected; each run's dry run gives the run's summary; and sending it all
    again stores nothing."""
    folder = tmp_path_factory.mktemp("mix")
    database = Database.open(f"sqlite:///{folder / 'm.db'}")
    stored: dict[int, int] = {}  # sale -> the version stored
    try:
        for number, files in enumerate(runs):
            paths = []
            expected = Counter[str]()
            for at, records in enumerate(files):
                paths.append(folder / f"run-{number}-{at}.jsonl")
                paths[-1].write_bytes(b"".join(sent_line(*r) + b"\n" for r in records))
                for kind, n, version in records:
                    if kind != "sale":
                        expected["rejected"] += 1
                    elif n not in stored:
                        stored[n] = version
                        expected["accepted"] += 1
                    elif stored[n] == version:
                        expected["duplicates"] += 1
                    else:
                        expected["rejected"] += 1
                        expected["conflicts"] += 1
            options: dict[str, Any] = {"rejects": None, "batch_size": batch}
            dry = ingest_files(paths, database, KEYS, dry_run=True, **options)
            done = ingest_files(paths, database, KEYS, **options)
            assert done.as_dict() == {**dry.as_dict(), "dry_run": False}
            counts = {name: getattr(done, name) for name in expected}
            assert counts == dict(expected)
        assert database.count() == len(stored)
        everything = sorted(folder.glob("run-*.jsonl"))
        again = ingest_files(everything, database, KEYS, rejects=None, batch_size=batch)
        assert again.accepted == 0
        assert database.count() == len(stored)
    finally:
        database.close()
