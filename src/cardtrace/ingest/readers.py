"""Streaming readers of JSON Lines, CSV and Parquet: one record at a time, whatever the size.

A reader never fails on a bad record: it yields a :class:`Record` with the problem, so
the pipeline rejects that record and goes on. Only a file that cannot be read at all (a
missing file, a corrupt Parquet footer) raises ``InvalidInput``. Readers report progress
in bytes of the file, so a progress bar can show it.

JSON Lines records are handed on as the line's bytes (the validator parses JSON itself,
which is faster than decoding twice); CSV and Parquet records as dictionaries.
"""

from __future__ import annotations

import csv
import io
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

from cardtrace.domain.events import EVENT_MODELS
from cardtrace.errors import InvalidInput

__all__ = [
    "MAX_RECORD_BYTES",
    "SUFFIXES",
    "Record",
    "discover",
    "read_records",
]

#: A longer line is rejected without being held in memory.
MAX_RECORD_BYTES = 1 << 20
#: Separator of list values (``purposes``, ``top_cells``) inside one CSV cell.
CSV_LIST_SEPARATOR = ";"
_CHUNK = 1 << 16
_PARQUET_BATCH = 4096

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Record:
    """One input record: its line (row) number, and its content or what is wrong with it."""

    line: int
    data: bytes | dict[str, Any] | None
    field: str | None = None
    problem: str | None = None


def discover(paths: Iterable[Path], skip: Iterable[Path] = ()) -> list[Path]:
    """The data files named by ``paths`` (folders read recursively, ground truth skipped)."""
    skipped = {path.resolve() for path in skip}
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                file
                for file in sorted(path.rglob("*"))
                if file.is_file()
                and file.suffix in SUFFIXES
                and "truth" not in file.name
                and file.resolve() not in skipped
            )
        elif path.is_file():
            if path.suffix not in SUFFIXES:
                raise InvalidInput(
                    f"{path}: unsupported file type {path.suffix or '(none)'}; "
                    f"expected one of {', '.join(sorted(SUFFIXES))}"
                )
            found.append(path)
        else:
            raise InvalidInput(f"{path}: no such file or folder")
    return found


def read_records(path: Path, progress: Progress | None = None) -> Iterator[Record]:
    """The records of ``path``, read by the reader its suffix names."""
    advance = progress or _ignore
    try:
        with path.open("rb") as handle:
            yield from SUFFIXES[path.suffix](handle, path, advance)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from None


def _ignore(_: int) -> None:
    return None


def _read_jsonl(handle: IO[bytes], _path: Path, advance: Progress) -> Iterator[Record]:
    number = unreported = 0
    while True:
        line = handle.readline(MAX_RECORD_BYTES + 1)
        if not line:
            advance(unreported)
            return
        number += 1
        unreported += len(line)
        if unreported >= _CHUNK:  # a progress update per line would cost more than the line
            advance(unreported)
            unreported = 0
        if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
            unreported += _skip_rest_of_line(handle)
            yield Record(number, None, None, f"line is longer than {MAX_RECORD_BYTES} bytes")
        elif line.strip():
            yield Record(number, line)


def _skip_rest_of_line(handle: IO[bytes]) -> int:
    skipped = 0
    while chunk := handle.readline(_CHUNK):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def _read_csv(handle: IO[bytes], _path: Path, advance: Progress) -> Iterator[Record]:
    csv.field_size_limit(MAX_RECORD_BYTES)
    text = io.TextIOWrapper(handle, encoding="utf-8", errors="surrogateescape", newline="")
    try:
        yield from _csv_rows(csv.reader(text), handle, advance)
    finally:
        text.detach()  # the caller closes the file, not the wrapper


def _csv_rows(rows: Any, handle: IO[bytes], advance: Progress) -> Iterator[Record]:
    try:
        header = next(rows)
    except (StopIteration, csv.Error):
        return
    lists = _list_fields()
    position = handle.tell()
    start = rows.line_num + 1
    while True:
        try:
            cells = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Record(start, None, None, f"malformed CSV: {exc}")
            start = rows.line_num + 1
            continue
        now = handle.tell()
        advance(now - position)
        position = now
        line, start = start, rows.line_num + 1
        if cells:
            yield _csv_record(line, header, cells, lists)


def _csv_record(line: int, header: list[str], cells: list[str], lists: frozenset[str]) -> Record:
    if len(cells) != len(header):
        return Record(line, None, None, f"row has {len(cells)} cells, header has {len(header)}")
    try:
        "".join(cells).encode()
    except UnicodeEncodeError:
        return Record(line, None, None, "row is not valid UTF-8")
    data: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        if cell != "":
            data[name] = cell.split(CSV_LIST_SEPARATOR) if name in lists else cell
    return Record(line, data)


@cache
def _list_fields() -> frozenset[str]:
    """Names of the event fields that hold lists (split from one CSV cell)."""
    return frozenset(
        name
        for model in EVENT_MODELS.values()
        for name, info in model.model_fields.items()
        if typing.get_origin(info.annotation) is list
    )


def _read_parquet(handle: IO[bytes], path: Path, advance: Progress) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(handle)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"{path}: not a readable Parquet file: {exc}") from None
    total_rows = max(parquet.metadata.num_rows, 1)
    size = path.stat().st_size
    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH):
            for row in batch.to_pylist():
                number += 1
                yield Record(number, {k: v for k, v in row.items() if v is not None})
            advance(size * batch.num_rows // total_rows)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"{path}: Parquet data unreadable after row {number}: {exc}") from None


#: File suffix -> reader.
SUFFIXES: dict[str, Callable[[IO[bytes], Path, Progress], Iterator[Record]]] = {
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
    ".csv": _read_csv,
    ".parquet": _read_parquet,
}
