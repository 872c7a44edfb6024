"""Readers stream records and turn unreadable ones into problems, never into crashes."""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from random import Random

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import factories as make
from cardtrace.domain.events import CardSold
from cardtrace.errors import InvalidInput
from cardtrace.ingest import pipeline, readers
from cardtrace.ingest.readers import MAX_RECORD_BYTES, Record, Share, discover, read_records


def records(path: Path) -> list[Record]:
    return list(read_records(path))


def test_jsonl_yields_lines_with_numbers_and_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a":1}\n\n{"b":2}')
    assert [(r.line, r.data) for r in records(path)] == [(1, b'{"a":1}'), (3, b'{"b":2}')]


def test_a_ten_megabyte_line_is_a_problem_and_the_next_line_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"x":"' + b"a" * 10_000_000 + b'"}\n{"ok":1}\n')
    first, second = records(path)
    assert first.data is None
    assert first.problem == f"line is longer than {MAX_RECORD_BYTES} bytes"
    assert (second.line, second.data) == (2, b'{"ok":1}')


def test_empty_files_yield_nothing(tmp_path: Path) -> None:
    for name in ("e.jsonl", "e.csv"):
        (tmp_path / name).write_bytes(b"")
        assert records(tmp_path / name) == []


@pytest.mark.parametrize(
    ("name", "content"), [("a.jsonl", b'{"a":1}\n' * 100), ("a.csv", b"type,x\n" + b"k,1\n" * 3000)]
)
def test_progress_counts_every_byte(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    seen: list[int] = []
    list(read_records(path, seen.append))
    assert sum(seen) == path.stat().st_size


def test_csv_rows_become_dicts_without_empty_cells_and_with_lists(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("type,msisdn,top_cells,calls\nusage.summarized,+8613800138000,c1;c2,\n")
    (record,) = records(path)
    assert record.line == 2
    assert record.data == {
        "type": "usage.summarized",
        "msisdn": "+8613800138000",
        "top_cells": ["c1", "c2"],
    }


@pytest.mark.parametrize(
    ("row", "problem"),
    [("a,b,c,d", "row has 4 cells, header has 3"), ("a,b", "row has 2 cells, header has 3")],
)
def test_csv_rows_with_missing_or_extra_cells_are_problems(
    tmp_path: Path, row: str, problem: str
) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"type,x,y\n{row}\nk,l,m\n")
    bad, good = records(path)
    assert (bad.line, bad.problem) == (2, problem)
    assert (good.line, good.data) == (3, {"type": "k", "x": "l", "y": "m"})


@pytest.mark.parametrize("cell", ["3_000", "+30", " 30", "30 ", "30.0", "1e3", "٣٠", "0x1e"])
def test_a_csv_number_not_written_in_digits_is_a_problem_naming_its_column(
    tmp_path: Path, cell: str
) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f'type,face_value,calls\nk,"{cell}",7\nk,30,-2\n')
    bad, good = records(path)
    assert (bad.line, bad.data, bad.field) == (2, None, "face_value")
    assert bad.problem is not None
    assert bad.problem.startswith("number must be written in digits")
    # Digits, with a minus sign left for the event's own check (greater than 0) to refuse.
    assert good.data == {"type": "k", "face_value": "30", "calls": "-2"}


def test_a_csv_record_over_several_lines_says_where_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('type,x,y\nk,"two\nlines",m\nk,"open,m\nk,l,m\nk,l,m\n')
    quoted, left_open = records(path)
    assert (quoted.line, quoted.last_line, quoted.data) == (
        2,
        3,
        {"type": "k", "x": "two\nlines", "y": "m"},
    )
    # The quote left open on line 4 takes the rest of the file into one cell.
    assert (left_open.line, left_open.last_line) == (4, 6)
    assert left_open.problem == "row has 2 cells, header has 3"


def test_a_quote_left_open_past_the_size_limit_accounts_for_every_line(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    body = "".join(f"k,{n},{'v' * 400}\n" for n in range(3000))  # ~1.2 MB
    path.write_text(f'type,x,y\nk,"open,m\n{body}k,last,m\n')
    found = records(path)
    bad = found[0]
    assert "field larger than field limit" in str(bad.problem)
    assert bad.line == 2
    assert bad.last_line is not None
    rest = found[1:]
    # Every line is in the reject's range or a record of its own, up to the last one.
    assert rest[0].line == bad.last_line + 1
    assert rest[-1].data == {"type": "k", "x": "last", "y": "m"}
    assert rest[-1].line == 3 + 3000


def test_csv_with_invalid_utf8_is_a_problem_for_that_row_only(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"type,x\nk,\xff\xfe\nk,ok\n")
    bad, good = records(path)
    assert (bad.field, bad.problem) == ("x", "value is not valid UTF-8")
    assert good.data == {"type": "k", "x": "ok"}


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_record(tmp_path: Path) -> None:
    jsonl, csv_file = tmp_path / "a.jsonl", tmp_path / "a.csv"
    jsonl.write_bytes(b'\xef\xbb\xbf{"a":1}\n{"b":2}\n')
    csv_file.write_bytes("type,x\nk,\ufeffv\n".encode("utf-8-sig"))
    assert [(r.line, r.data) for r in records(jsonl)] == [(1, b'{"a":1}'), (2, b'{"b":2}')]
    # Only the mark at the start of the file goes; one inside a cell is data.
    assert [(r.line, r.data) for r in records(csv_file)] == [(2, {"type": "k", "x": "\ufeffv"})]


def test_a_csv_header_naming_a_column_twice_makes_every_row_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("type,x,x\nk,1,2\n\nk,3,4\n")
    assert [(r.line, r.data, r.field, r.problem) for r in records(path)] == [
        (2, None, "x", "column appears twice in the header"),
        (4, None, "x", "column appears twice in the header"),
    ]


def test_a_parquet_schema_naming_a_column_twice_makes_every_row_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    columns = [pa.array(["k", "k", "k"]), pa.array(["1", "2", "3"]), pa.array(["4", "5", "6"])]
    pq.write_table(pa.Table.from_arrays(columns, names=["type", "x", "x"]), path)
    assert [(r.line, r.data, r.field, r.problem) for r in records(path)] == [
        (n, None, "x", "column appears twice in the schema") for n in (1, 2, 3)
    ]


OPEN_QUOTE = 'type,"x,y\nk,1,2\nk,3,4\n'  # the quote is never closed: the header takes it all


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (OPEN_QUOTE, "the CSV header runs over lines 1 to 3 (a quote left open"),
        ('type,"x\nk,1",y\nk,2,3\n', "the CSV header runs over lines 1 to 2 (a quote left open"),
        (
            'type,"x\n' + "k,1,2\n" * 200_000,  # the open quote passes the field size limit
            "the CSV header cannot be read (malformed CSV: field larger than field limit",
        ),
    ],
    ids=["quote-open-to-the-end", "quote-closed-on-a-later-line", "quote-open-past-the-limit"],
)
def test_a_csv_header_that_cannot_be_read_is_one_record_for_the_whole_file(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "a.csv"
    path.write_text(content)
    (only,) = records(path)
    assert (only.line, only.data, only.unread_rest) == (1, None, True)
    assert only.problem is not None
    assert only.problem.startswith(reason)
    assert only.problem.endswith("; nothing from this line on could be read")
    # Split between readers, one of them says so.
    assert shared_read(path, 2) == [only]


def test_a_blank_first_line_makes_every_row_a_problem_naming_the_empty_header(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.csv"
    path.write_text("\ntype,x\nk,1\n")
    assert [(r.line, r.data, r.field, r.problem) for r in records(path)] == [
        (2, None, None, "the CSV header (line 1) is empty"),
        (3, None, None, "the CSV header (line 1) is empty"),
    ]


def test_a_csv_file_of_a_header_alone_or_blank_lines_alone_yields_nothing(tmp_path: Path) -> None:
    for name, content in [("header.csv", "type,x\n"), ("blank.csv", "\n\n\n")]:
        (tmp_path / name).write_text(content)
        assert records(tmp_path / name) == []


STREAMS = {
    "jsonl": b'\n{"a":1}\n{"b":2}\n',
    "csv with a byte order mark": b"\xef\xbb\xbftype,x\nk,1\nk,2\n",
    "blank": b"\n\n",
}


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("name", list(STREAMS))
def test_standard_input_is_read_as_the_file_its_first_bytes_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, compressed: bool
) -> None:
    plain = STREAMS[name]
    data = gzip.compress(plain) if compressed else plain
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    as_file = tmp_path / ("a.csv" if "csv" in name else "a.jsonl")
    as_file.write_bytes(plain)
    read: list[int] = []
    assert list(read_records(readers.STDIN, read.append)) == records(as_file)
    assert sum(read) == len(data)


def test_the_input_size_is_unknown_when_standard_input_is_read(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.csv"
    first.write_bytes(b"x" * 10)
    second.write_bytes(b"y" * 5)
    assert readers.input_bytes([first, second]) == 15
    assert readers.input_bytes([first, readers.STDIN]) is None


def test_standard_input_is_named_once_at_most(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").touch()
    assert discover([readers.STDIN, tmp_path]).files == [readers.STDIN, tmp_path / "a.jsonl"]
    with pytest.raises(InvalidInput, match="standard input can be read only once"):
        discover([readers.STDIN, readers.STDIN])


def test_standard_input_is_refused_when_it_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", None)  # what Python makes of a closed descriptor 0
    with pytest.raises(InvalidInput, match=r"^-: standard input is closed$"):
        discover([readers.STDIN])


def test_an_ingest_of_a_closed_standard_input_is_refused_before_anything_is_made(
    tmp_path: Path,
) -> None:
    # Only a process started with descriptor 0 closed (`<&-`) shows the real thing.
    command = [sys.executable, "-m", "cardtrace", "ingest", "-"]
    result = subprocess.run(
        ["sh", "-c", 'exec "$@" <&-', "sh", *command],
        cwd=tmp_path,
        env={**os.environ, "CARDTRACE_DATABASE_URL": "sqlite:///n.db"},
        capture_output=True,
        check=False,
    )
    said = result.stderr.decode()
    assert result.returncode == 2, said
    assert said.startswith("cardtrace: ")
    assert said.count("\n") == 1
    assert "standard input" in said
    assert "closed" in said
    assert list(tmp_path.iterdir()) == []  # no database, no keys


@pytest.mark.parametrize("kind", [".jsonl", ".csv"])
def test_gzip_files_read_as_their_plain_form_and_progress_counts_compressed_bytes(
    tmp_path: Path, kind: str
) -> None:
    plain = tmp_path / f"a{kind}"
    if kind == ".csv":
        plain.write_text("type,n\n" + "".join(f"t,{n}\n" for n in range(5000)))
    else:
        plain.write_bytes(b"".join(b'{"n":%d}\n\n' % n for n in range(5000)))
    packed = tmp_path / f"a{kind}.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    seen: list[int] = []
    found = list(read_records(packed, seen.append))
    assert found == records(plain)
    assert sum(seen) == packed.stat().st_size


def plain_lines(suffix: str, count: int) -> bytes:
    if suffix == ".csv":
        return b"type,n\n" + b"".join(b"t,%d\n" % n for n in range(count))
    return b"".join(b'{"n":%d}\n' % n for n in range(count))


def cut_short(record: Record) -> bool:
    return record.unread_rest and record.data is None and "cut short" in (record.problem or "")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_gzip_file_cut_short_yields_what_came_before_and_one_record_for_the_rest(
    tmp_path: Path, suffix: str
) -> None:
    data = gzip.compress(plain_lines(suffix, 200_000))
    cut = tmp_path / f"cut{suffix}.gz"
    cut.write_bytes(data[: len(data) // 2])
    *read, last = records(cut)
    first = 1 if suffix == ".jsonl" else 2  # a CSV file's line 1 is its header
    assert 0 < len(read) < 200_000
    assert [r.line for r in read] == list(range(first, first + len(read)))
    assert all(r.data is not None for r in read)
    assert cut_short(last)
    assert last.line == first + len(read)
    # Each share of a split file breaks at the same read; one of them says so.
    halves = [list(read_records(cut, share=Share(index, 2))) for index in (0, 1)]
    assert sorted(r.line for half in halves for r in half) == [r.line for r in (*read, last)]
    assert [r for half in halves for r in half if r.unread_rest] == [last]


def shared_read(path: Path, shares: int) -> list[Record]:
    """The records ``shares`` readers of ``path`` make between them, by line."""
    found = (r for index in range(shares) for r in read_records(path, share=Share(index, shares)))
    return sorted(found, key=lambda r: r.line)


@settings(max_examples=40, deadline=None)
@given(suffix=st.sampled_from([".jsonl", ".csv"]), keep=st.floats(0, 1), shares=st.integers(1, 3))
def test_gzip_data_cut_anywhere_yields_a_prefix_of_the_records_then_one_for_the_rest(
    tmp_path_factory: pytest.TempPathFactory, suffix: str, keep: float, shares: int
) -> None:
    folder = tmp_path_factory.mktemp("cut")
    whole = folder / f"whole{suffix}"
    whole.write_bytes(plain_lines(suffix, 20_000))
    data = gzip.compress(whole.read_bytes())
    cut = folder / f"cut{suffix}.gz"
    cut.write_bytes(data[: 1 + int(keep * (len(data) - 2))])  # empty is an empty file
    *read, last = shared_read(cut, shares)
    assert read == records(whole)[: len(read)]
    assert last.unread_rest
    assert last.line == (read[-1].line + 1 if read else 1)


@settings(max_examples=40, deadline=None)
@given(
    suffix=st.sampled_from([".jsonl", ".csv"]),
    damage=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=4),
    shares=st.integers(1, 3),
)
def test_damaged_gzip_data_never_crashes_and_ends_in_one_record_for_the_rest(
    tmp_path_factory: pytest.TempPathFactory,
    suffix: str,
    damage: list[tuple[float, int]],
    shares: int,
) -> None:
    folder = tmp_path_factory.mktemp("damaged")
    whole = folder / f"whole{suffix}"
    whole.write_bytes(plain_lines(suffix, 20_000))
    packed = gzip.compress(whole.read_bytes())
    data = bytearray(packed)
    for where, mask in damage:
        data[int(where * (len(data) - 1))] ^= mask
    assume(data != packed)  # two flips of one byte may undo each other
    path = folder / f"a{suffix}.gz"
    path.write_bytes(bytes(data))
    found = shared_read(path, shares)
    # Damage to the data is caught by the end at the latest (gzip's CRC), and then the
    # last record says the rest could not be read. Damage to header fields that gzip
    # does not check (the time, the OS) reads as the whole file.
    ends = [r for r in found if r.unread_rest]
    if ends:
        assert ends == found[-1:]
    else:
        assert found == records(whole)
    assert all(r.line >= 1 for r in found)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        (
            "garbage.csv.gz",
            b"not gzip at all",
            "the compressed data is corrupt or cut short (Not a gzipped file);",
        ),
        ("a.parquet", b"PAR1 not really", "not a readable Parquet file ("),
        ("gone.jsonl", None, "cannot read the file: No such file or directory;"),  # removed
    ],
)
def test_a_file_that_cannot_be_read_at_all_is_one_record_for_the_whole_file(
    tmp_path: Path, name: str, content: bytes | None, problem: str
) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    (only,) = records(tmp_path / name)
    assert (only.line, only.data, only.unread_rest) == (1, None, True)
    assert only.problem is not None
    assert only.problem.startswith(problem)
    assert only.problem.endswith("; nothing from this line on could be read")


def test_parquet_rows_become_dicts_without_nulls(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"type": ["a", "b"], "x": [1, None]}), path)
    assert [(r.line, r.data) for r in records(path)] == [
        (1, {"type": "a", "x": 1}),
        (2, {"type": "b"}),
    ]


def test_parquet_data_corrupt_part_way_yields_the_rows_before_its_batch(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    count = 20_000
    names = [f"value-{n:08d}-" + "x" * (n % 50) for n in range(count)]
    pq.write_table(pa.table({"type": ["t"] * count, "n": names}), path, row_group_size=5_000)
    column = pq.ParquetFile(path).metadata.row_group(2).column(1)
    data = bytearray(path.read_bytes())
    data[column.data_page_offset + 40 : column.data_page_offset + 240] = b"\xff" * 200
    path.write_bytes(data)
    *read, last = records(path)
    assert [r.line for r in read] == list(range(1, len(read) + 1))
    assert 0 < len(read) <= 10_000  # the rows of the first two row groups at most
    assert last.line == len(read) + 1
    assert last.unread_rest
    assert last.problem is not None
    assert last.problem.startswith("unreadable Parquet data (")
    assert "\n" not in last.problem


def test_a_parquet_value_python_cannot_hold_is_a_problem_of_its_row_only(tmp_path: Path) -> None:
    valid = pa.array(["ok", "ab-x", "fine"])
    offsets, data = valid.buffers()[1:]
    broken = data.to_pybytes().replace(b"ab-x", b"\xff\xfe-x")  # same length, not UTF-8
    names = pa.Array.from_buffers(pa.string(), 3, [None, offsets, pa.py_buffer(broken)])
    times = pa.array([0, 0, 400_000_000_000_000_000], pa.timestamp("us", tz="UTC"))  # ~14645
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"type": ["t"] * 3, "name": names, "at": times}), path)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert [(r.line, r.data, r.field, r.problem) for r in records(path)] == [
        (1, {"type": "t", "name": "ok", "at": epoch}, None, None),
        (2, None, "name", "value is not valid UTF-8"),
        (3, None, "at", "value is out of range"),
    ]


TEXT_NUMBERS = ["5_0", " 50", "+50", "50.0", "4746 ", "", "true", "٥٠"]
NOT_DIGITS = "number must be written in digits alone, e.g. 30 (no '+', spaces, '_' or '.')"


@pytest.mark.parametrize("text", TEXT_NUMBERS)
@pytest.mark.parametrize("kind", [pa.string(), pa.large_string(), pa.binary()])
def test_a_parquet_text_number_not_in_digits_is_a_problem_naming_its_column(
    tmp_path: Path, text: str, kind: pa.DataType
) -> None:
    path = tmp_path / "a.parquet"
    values = pa.array([text.encode() if kind == pa.binary() else text, "50"], kind)
    pq.write_table(pa.table({"type": ["k", "k"], "face_value": values}), path)
    bad, good = records(path)
    assert (bad.line, bad.data, bad.field, bad.problem) == (1, None, "face_value", NOT_DIGITS)
    assert good.line == 2
    assert isinstance(good.data, dict)
    assert good.data["face_value"] in {"50", b"50"}


def test_csv_and_parquet_hold_text_numbers_to_one_rule(tmp_path: Path) -> None:
    texts = [*(t for t in TEXT_NUMBERS if t), "50", "050", "-5"]  # an empty cell is no value
    csv_path, parquet_path = tmp_path / "a.csv", tmp_path / "a.parquet"
    csv_path.write_text("type,price_fen\n" + "".join(f'k,"{t}"\n' for t in texts))
    pq.write_table(pa.table({"type": ["k"] * len(texts), "price_fen": texts}), parquet_path)
    as_csv = [(r.data, r.field, r.problem) for r in records(csv_path)]
    as_parquet = [(r.data, r.field, r.problem) for r in records(parquet_path)]
    assert as_parquet == as_csv
    assert [problem for _, _, problem in as_parquet].count(NOT_DIGITS) == len(texts) - 3


@pytest.mark.parametrize(
    "column", [pa.array([50], pa.int64()), pa.array(["50"]), pa.array(["050"]), pa.array([50.0])]
)
def test_a_parquet_number_in_digits_or_of_a_number_column_is_read_as_the_number(
    tmp_path: Path, column: pa.Array
) -> None:
    sent = make.card_sold(order_ref=None)
    table = pa.Table.from_pylist([sent]).set_column(
        list(sent).index("face_value"), "face_value", column
    )
    path = tmp_path / "a.parquet"
    pq.write_table(table, path)
    (record,) = records(path)
    assert isinstance(record.data, dict)
    event = pipeline.validate(record.data, datetime.now(UTC))
    assert isinstance(event, CardSold)
    assert event.face_value == 50


def test_a_parquet_text_number_is_held_to_digits_in_a_row_read_value_by_value(
    tmp_path: Path,
) -> None:
    valid = pa.array(["ok", "ab-x"])
    offsets, data = valid.buffers()[1:]
    broken = data.to_pybytes().replace(b"ab-x", b"\xff\xfe-x")  # not UTF-8: read value by value
    names = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(broken)])
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"type": ["t", "t"], "face_value": ["+50", "50"], "n": names}), path)
    assert [(r.line, r.field, r.problem) for r in records(path)] == [
        (1, "face_value", NOT_DIGITS),
        (2, "n", "value is not valid UTF-8"),
    ]


#: A PIN-like start of a file, whose first two characters are found in no output of ours.
DUMP = b"KW7Q9Z3M5X1P8R4T,cmcc,100\n" * 20


def test_a_file_that_breaks_is_named_in_a_reason_free_of_its_bytes(tmp_path: Path) -> None:
    (tmp_path / "dump.jsonl.gz").write_bytes(DUMP)  # not gzip at all
    (tmp_path / "tail.csv.gz").write_bytes(gzip.compress(b"type,n\nk,1\n") + DUMP)
    (tmp_path / "dump.parquet").write_bytes(DUMP)
    command = [sys.executable, "-m", "cardtrace", "ingest", "--dry-run", "."]
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env={**os.environ, "CARDTRACE_DATABASE_URL": "sqlite:///n.db", "COLUMNS": "300"},
        capture_output=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    rejects = (tmp_path / "rejects.jsonl").read_bytes()
    found = [orjson.loads(line) for line in rejects.splitlines()]
    assert sorted((r["file"], r["line"], r.get("rest_of_file_unread")) for r in found) == [
        ("dump.jsonl.gz", 1, True),
        ("dump.parquet", 1, True),
        ("tail.csv.gz", 2, None),  # its one record, read before the break: no event type
        ("tail.csv.gz", 3, True),
    ]
    assert b"Not a gzipped file" in result.stdout  # the reasons are there, and ...
    for said in (result.stdout, result.stderr, rejects):
        assert DUMP[:2] not in said  # ... not even gzip's two bytes of the input


def test_a_gzip_checksum_error_names_no_checksum(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(b'{"a":1}\n'))
    data[-8:-4] = b"KW7Q"  # the stored CRC-32, from the input's own bytes
    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(bytes(data))
    (only,) = records(path)
    assert only.problem == (
        "the compressed data is corrupt or cut short (CRC check failed); "
        "nothing from this line on could be read"
    )


def test_a_parquet_column_name_that_is_not_utf8_is_not_quoted(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"type": ["t"], "QZNAME": ["v"]}), path)
    path.write_bytes(path.read_bytes().replace(b"QZNAME", b"\xc3(NAME"))
    (only,) = records(path)
    assert only.problem == (
        "not a readable Parquet file (a column name is not valid UTF-8); "
        "nothing from this line on could be read"
    )


def test_a_raw_character_in_a_pyarrow_message_is_not_passed_on() -> None:
    # Thrift's words for a type code it does not know, as pyarrow passes them on.
    error = pa.ArrowInvalid("Couldn't deserialize thrift: don't know what type: \x0e ")
    assert readers._parquet_fault(error).split() == [
        "Couldn't",
        "deserialize",
        "thrift:",
        "don't",
        "know",
        "what",
        "type:",
    ]
    assert readers._parquet_fault(error).isprintable()


@settings(max_examples=150, deadline=None)
@given(
    compression=st.sampled_from(["snappy", "zstd", "none"]),
    rng=st.randoms(use_true_random=False),  # damage anywhere alike, not at simple offsets
    shares=st.integers(1, 2),
)
def test_damaged_parquet_files_never_crash_and_end_in_one_record_at_most_for_the_rest(
    tmp_path_factory: pytest.TempPathFactory, compression: str, rng: Random, shares: int
) -> None:
    count = 3_000
    table = pa.table(
        {
            "type": ["card.sold"] * count,
            "name": [f"v{n}-" + "x" * (n % 40) for n in range(count)],
            "n": list(range(count)),
            "at": pa.array([n * 10**9 for n in range(count)], pa.timestamp("ns", tz="UTC")),
            "cells": [["a", "b"]] * count,
        }
    )
    path = tmp_path_factory.mktemp("damaged") / "a.parquet"
    pq.write_table(table, path, row_group_size=700, compression=compression)
    data = bytearray(path.read_bytes())
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(len(data))] ^= rng.randint(1, 255)
    if rng.random() < 0.2:
        del data[rng.randrange(1, len(data)) :]
    path.write_bytes(bytes(data))
    found = shared_read(path, shares)  # Parquet keeps no checksum: damage may go unseen
    lines = [r.line for r in found]
    assert lines == sorted(set(lines))
    assert all(not r.unread_rest for r in found[:-1])
    assert all((r.data is None) == (r.problem is not None) for r in found)


def test_discover_reads_folders_recursively_skips_ground_truth_and_lists_other_files(
    tmp_path: Path,
) -> None:
    (tmp_path / "sub").mkdir()
    names = ("a.jsonl", "sub/b.csv", "truth.jsonl", "notes.txt", "sub/c.parquet", "d.csv.gz")
    for name in (*names, "e.txt.gz", "f.parquet.gz"):
        (tmp_path / name).write_bytes(orjson.dumps({}))
    skipped = tmp_path / "rejects.jsonl"
    skipped.write_bytes(b"")
    found, ignored, truth = discover([tmp_path], skip=[skipped])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.jsonl",
        "d.csv.gz",
        "sub/b.csv",
        "sub/c.parquet",
    ]
    assert ignored == [tmp_path / name for name in ("e.txt.gz", "f.parquet.gz", "notes.txt")]
    assert truth == [tmp_path / "truth.jsonl"]
    # Named as a path, a file is read whatever its name.
    assert discover([tmp_path / "truth.jsonl"]) == ([tmp_path / "truth.jsonl"], [], [])


def test_discover_names_what_in_a_folder_is_not_a_regular_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "a.jsonl").write_bytes(b"")
    os.mkfifo(data / "pipe.jsonl")
    (data / "broken.jsonl").symlink_to(tmp_path / "gone.jsonl")
    (data / "linked").symlink_to(data / "sub", target_is_directory=True)
    found, ignored, _ = discover([data])
    assert found == [data / "sub" / "a.jsonl"]
    assert ignored == [data / "broken.jsonl", data / "linked", data / "pipe.jsonl"]
    # Named as a path, a pipe is read (as a stream); a device is not.
    assert discover([data / "pipe.jsonl"]).files == [data / "pipe.jsonl"]
    with pytest.raises(InvalidInput, match=r"^/dev/null: not a regular file, a folder or a pipe"):
        discover([Path("/dev/null")])


def feed(pipe: Path, data: bytes) -> threading.Thread:
    """A writer that opens ``pipe`` (a FIFO) and writes ``data`` into it, then closes it."""
    writer = threading.Thread(target=pipe.write_bytes, args=(data,), daemon=True)
    writer.start()
    return writer


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("name", ["jsonl", "csv with a byte order mark"])
def test_a_named_pipe_is_read_as_a_stream_its_first_bytes_tell(
    tmp_path: Path, name: str, compressed: bool
) -> None:
    plain = STREAMS[name]
    # Its name says CSV: a stream's type comes from its bytes, as for standard input.
    pipe = tmp_path / "export.csv"
    os.mkfifo(pipe)
    data = gzip.compress(plain) if compressed else plain
    writer = feed(pipe, data)
    as_file = tmp_path / ("a.csv" if "csv" in name else "a.jsonl")
    as_file.write_bytes(plain)
    read: list[int] = []
    assert list(read_records(pipe, read.append)) == records(as_file)
    writer.join()
    assert sum(read) == len(data)
    assert readers.is_stream(pipe)
    assert readers.input_bytes([as_file, pipe]) is None


def test_parquet_in_a_stream_is_one_unread_record_not_garbage(tmp_path: Path) -> None:
    table = tmp_path / "a.parquet"
    pq.write_table(pa.table({"type": ["card.sold"]}), table)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    writer = feed(pipe, table.read_bytes())
    (record,) = read_records(pipe)
    writer.join()  # a small file: the pipe's buffer took all of it
    assert (record.line, record.unread_rest) == (1, True)
    assert (
        "Parquet data cannot be read from a pipe or standard input (name the file itself)"
        in str(record.problem)
    )


def test_a_pipe_is_named_once_at_most(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    (tmp_path / "link").symlink_to(pipe)
    with pytest.raises(InvalidInput, match=r"^.*pipe: a pipe can be read only once$"):
        discover([pipe, pipe])
    with pytest.raises(
        InvalidInput, match=r"link: a pipe can be read only once \(also as .*pipe\)$"
    ):
        discover([pipe, tmp_path / "link"])


def test_discover_refuses_missing_paths_and_unknown_file_types(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file or folder"):
        discover([tmp_path / "missing.jsonl"])
    (tmp_path / "a.txt").write_text("")
    with pytest.raises(InvalidInput, match=r"unsupported file type \.txt"):
        discover([tmp_path / "a.txt"])
    with pytest.raises(InvalidInput, match=r"a\.txt: unsupported file type \.txt; expected"):
        records(tmp_path / "a.txt")
    (tmp_path / "a.txt.gz").write_text("")
    with pytest.raises(
        InvalidInput, match=r"unsupported file type \.txt\.gz; expected .*\.csv\.gz"
    ):
        discover([tmp_path / "a.txt.gz"])


def test_suffixes_are_read_in_any_case(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    csv_rows = b"type,x\nk,1\n"
    (folder / "EXPORT.CSV").write_bytes(csv_rows)
    (folder / "A.JSONL").write_bytes(b'{"type":"k","x":"1"}\n')
    pq.write_table(pa.table({"type": ["k"], "x": ["1"]}), folder / "b.Parquet")
    (folder / "c.CSV.GZ").write_bytes(gzip.compress(csv_rows))
    (folder / "d.TXT").write_bytes(csv_rows)
    found, ignored, _ = discover([folder])
    assert [p.name for p in found] == ["A.JSONL", "EXPORT.CSV", "b.Parquet", "c.CSV.GZ"]
    assert ignored == [folder / "d.TXT"]
    assert discover(found).files == found  # named one by one, too
    read = {p.name: [(r.line, r.data) for r in records(p)] for p in found}
    assert read == {
        "A.JSONL": [(1, b'{"type":"k","x":"1"}')],
        "EXPORT.CSV": [(2, {"type": "k", "x": "1"})],
        "b.Parquet": [(1, {"type": "k", "x": "1"})],
        "c.CSV.GZ": [(2, {"type": "k", "x": "1"})],
    }


def expected_jsonl(content: bytes, longest: int) -> list[tuple[int, bytes | None]]:
    """What a JSON Lines reader must yield, worked out the simple way."""
    lines = content.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [
        (number, None if len(line) > longest else line)
        for number, line in enumerate(lines, 1)
        if len(line) > longest or line.strip()
    ]


@settings(max_examples=200, deadline=None)
@given(
    content=st.binary(max_size=400).map(
        lambda b: b.translate(bytes(b"a \n\r"[i % 4] for i in range(256)))
    ),
    block=st.integers(1, 40),
    longest=st.integers(1, 60),
    shares=st.integers(1, 3),
)
def test_jsonl_blocks_and_shares_yield_every_line_once_with_its_number(
    tmp_path_factory: pytest.TempPathFactory, content: bytes, block: int, longest: int, shares: int
) -> None:
    path = tmp_path_factory.mktemp("blocks") / "a.jsonl"
    path.write_bytes(content)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(readers, "_JSONL_BLOCK", block)
        patch.setattr(readers, "MAX_RECORD_BYTES", longest)
        seen: list[int] = []
        found = [
            record
            for index in range(shares)
            for record in read_records(
                path, seen.append if index == 0 else None, Share(index, shares)
            )
        ]
    assert sorted((r.line, r.data) for r in found) == expected_jsonl(content, longest)
    assert sum(seen) == len(content)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".csv.gz", ".jsonl.gz"])
def test_shares_split_the_rows_of_every_format_between_them(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"a{suffix}"
    count = 3 * max(readers._CSV_BLOCK, readers._PARQUET_BATCH) + 7
    table = pa.table({"type": ["t"] * count, "n": [str(n) for n in range(count)]})
    if suffix == ".parquet":
        pq.write_table(table, path)
    elif suffix == ".csv.gz":
        path.write_bytes(gzip.compress(b"type,n\n" + b"".join(b"t,%d\n" % n for n in range(count))))
    else:
        lines = b"".join(b'{"n":%d,"pad":"%s"}\n' % (n, b"x" * 200) for n in range(count))
        path.write_bytes(gzip.compress(lines))
    whole = [(r.line, r.data) for r in records(path)]
    halves = [list(read_records(path, share=Share(index, 2))) for index in (0, 1)]
    assert all(halves)
    assert sorted((r.line, r.data) for half in halves for r in half) == whole


def test_a_csv_header_column_that_is_not_utf8_makes_every_row_a_problem_naming_its_position(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"type,node_id,sour\xffce_id,amount\nk,n,s,1\n\nk,n,s,2\n")
    reason = "column 3 (after 'node_id') of the CSV header (line 1) is not valid UTF-8"
    assert [(r.line, r.data, r.field, r.problem) for r in records(path)] == [
        (2, None, None, reason),
        (4, None, None, reason),
    ]


NOT_UTF8 = "of the CSV header (line 1) is not valid UTF-8"
READS_AS_GB = " (it reads as GB18030: if so, name --encoding gb18030)"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b"\xff,face_value", f"column 1 (before 'face_value') {NOT_UTF8}"),
        # A file sent without its header row: its first data row (a name in GBK beside a
        # phone number) stands in for it, and none of it is repeated.
        (b"\xd5\xc5\xc8\xfd,13800138000", f"column 1 {NOT_UTF8}{READS_AS_GB}"),
        # Named twice, too: the reject named the column, and writing it failed.
        (b"type,\xff,\xff", f"column 2 (after 'type') {NOT_UTF8}"),
    ],
    ids=["first-column", "a-data-row-for-a-header", "named-twice"],
)
def test_a_csv_header_that_is_not_utf8_is_named_by_position_and_known_field_names_only(
    tmp_path: Path, header: bytes, reason: str
) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(header + b"\nk,1\n")
    (only,) = records(path)
    assert (only.line, only.data, only.field, only.problem) == (2, None, None, reason)
    orjson.dumps(only._asdict())  # as the rejects file writes it


def test_a_csv_cell_that_is_not_utf8_is_a_problem_naming_its_column(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"type,name,x\nk,\xd5\xc5\xc8\xfd,1\nk,ok,\xff\nk,ok,1\n")
    assert [(r.line, r.field, r.problem) for r in records(path)] == [
        (2, "name", f"value is not valid UTF-8{READS_AS_GB}"),  # a name in GBK
        (3, "x", "value is not valid UTF-8"),
        (4, None, None),
    ]


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("GBK", "gbk"),
        ("gb18030", "gb18030"),
        ("UTF8", "utf-8"),
        ("latin-1", "iso8859-1"),
        ("utf-8-sig", "utf-8"),
    ],
)
def test_a_text_encoding_is_named_by_its_codec(name: str, codec: str) -> None:
    assert readers.text_encoding(name) == codec


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("klingon", "not a text encoding Python knows"),
        ("base64", "not a text encoding Python knows"),
        ("utf-16", "does not keep ASCII bytes as ASCII"),
        ("utf-7", "does not keep ASCII bytes as ASCII"),
        # Reads "\\u4e2d" in ASCII text as one character: no longer the text sent.
        ("raw_unicode_escape", "does not keep ASCII bytes as ASCII"),
        ("utf\x00", "not a text encoding Python knows"),
        # 7-bit: its ESC sequences are ASCII bytes that mean other characters.
        ("iso2022_jp", "does not keep ASCII bytes as ASCII"),
    ],
)
def test_an_encoding_the_readers_cannot_split_is_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=rf"^encoding {re.escape(repr(name))}.*{reason}"):
        readers.text_encoding(name)


GB_LINES = [b'{"name":"\xe6\xb5\x8b\xe8\xaf\x95\xe7\x94\xb2","n":1}', b'{"ascii":"only"}']


def test_jsonl_in_gb18030_is_handed_on_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join(line.decode().encode("gb18030") for line in GB_LINES))
    assert [r.data for r in read_records(path, encoding="gb18030")] == GB_LINES
    # Read as UTF-8, the GB18030 line is refused, saying which encoding reads it.
    first, second = read_records(path)
    assert first.data == GB_LINES[0].decode().encode("gb18030")  # the validator decides
    assert second.data == GB_LINES[1]


def test_text_of_the_wrong_encoding_is_refused_with_what_would_read_it() -> None:
    gbk = "测试甲".encode("gb18030")
    assert readers.undecodable(gbk, "utf-8") == (
        "is not valid UTF-8 (it reads as GB18030: if so, name --encoding gb18030)"
    )
    assert readers.undecodable(b"\xff\xfe", "utf-8") == "is not valid UTF-8"
    assert readers.undecodable(b"\xff\xfe", "gb18030") == "is not valid GB18030"
    # UTF-8 text named GB18030 (a UTF-8 file among GBK ones) would decode, wrongly.
    assert readers.undecodable("测试甲".encode(), "gb18030") == (
        "is UTF-8 text, not GB18030: ingest its file without --encoding"
    )
    assert readers.undecodable(gbk, "gb18030") is None
    assert readers.undecodable(b"ascii", "gb18030") is None


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1))
def test_chinese_text_in_gb18030_reads_as_the_same_text_or_is_refused(name: str) -> None:
    line = orjson.dumps({"seller_name": name})
    raw = line.decode().encode("gb18030")
    (record,) = readers._jsonl_lines([raw], 0, "gb18030")
    if record.data is None:  # only GB18030 bytes that read as UTF-8 Chinese (U+0800 on)
        as_utf8 = raw.decode()  # raises if they do not
        assert max(as_utf8) >= "\u0800"
        assert (
            record.problem == "line is UTF-8 text, not GB18030: ingest its file without --encoding"
        )
    else:
        assert record.data == line


def test_a_utf8_line_in_a_run_named_gb18030_is_refused_not_garbled(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join(GB_LINES))  # UTF-8
    first, second = read_records(path, encoding="gb18030")
    assert (first.line, first.data) == (1, None)
    assert first.problem == "line is UTF-8 text, not GB18030: ingest its file without --encoding"
    assert second.data == GB_LINES[1]


def test_csv_in_gb18030_reads_as_the_same_csv_in_utf8(tmp_path: Path) -> None:
    text = "type,seller_name\ncard.recycled,测试甲\ncard.recycled,王芳\n"
    as_utf8, as_gb = tmp_path / "a.csv", tmp_path / "b.csv"
    as_utf8.write_text(text, encoding="utf-8")
    as_gb.write_bytes(text.encode("gb18030"))
    assert list(read_records(as_gb, encoding="gb18030")) == records(as_utf8)


def test_a_csv_value_of_the_wrong_encoding_is_named_by_its_field(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(
        b"type,seller_name,note\n"
        + "card.recycled,测试甲,x\n".encode("gb18030")
        + b"card.recycled,ok,\xff\n"
        + "card.recycled,王芳,x\n".encode()
    )
    gbk, bad, utf8 = read_records(path, encoding="gb18030")
    assert gbk.data == {"type": "card.recycled", "seller_name": "测试甲", "note": "x"}
    assert (bad.field, bad.problem) == ("note", "value is not valid GB18030")
    assert (utf8.field, utf8.problem) == (
        "seller_name",
        "value is UTF-8 text, not GB18030: ingest its file without --encoding",
    )
    first, *_ = read_records(path)  # as UTF-8: the GB18030 row is refused, with a hint
    assert first.field == "seller_name"
    assert first.problem == (
        "value is not valid UTF-8 (it reads as GB18030: if so, name --encoding gb18030)"
    )


def test_a_csv_header_of_the_wrong_encoding_says_so(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"type,\xff\xfe\ncard.recycled,x\n")
    (record,) = read_records(path, encoding="gb18030")
    assert (
        record.problem == "column 2 (after 'type') of the CSV header (line 1) is not valid GB18030"
    )


def test_standard_input_in_gb18030_gzip_is_read_in_its_encoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = gzip.compress(b"\n".join(line.decode().encode("gb18030") for line in GB_LINES))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert [r.data for r in read_records(readers.STDIN, encoding="gb18030")] == GB_LINES


def test_a_multibyte_character_ending_in_a_backslash_byte_is_not_an_escape(
    tmp_path: Path,
) -> None:
    # 表 in Shift JIS is 0x95 0x5C: read as bytes, its 0x5C would escape the closing quote.
    line = '{"type":"card.recycled","seller_name":"表"}'
    path = tmp_path / "a.jsonl"
    path.write_bytes(line.encode("shift_jis"))
    assert b'\\"' in path.read_bytes()
    (record,) = read_records(path, encoding="shift_jis")
    assert isinstance(record.data, bytes)
    assert orjson.loads(record.data)["seller_name"] == "表"
