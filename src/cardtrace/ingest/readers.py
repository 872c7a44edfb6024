"""Streaming readers of JSON Lines, CSV and Parquet: one record at a time, whatever the size.

A reader never fails on a bad record: it yields a :class:`Record` with the problem, so
the pipeline rejects that record and goes on. Nor does it fail on a file it cannot read
to the end (corrupt or cut-short compressed data, a corrupt Parquet file, an I/O error,
a file that cannot be opened, a CSV header that cannot be read): the records before the
break are read, and one last record, marked ``unread_rest``, says from which line on
nothing could be read and why, so the run goes on with the next file. A reason never
quotes the input: what a library's message quotes of it (gzip's first bytes of data that
is not gzip) is left out. Readers report progress in bytes of the file, so a progress bar
can show it.

JSON Lines records are handed on as the line's bytes (the validator parses JSON itself,
which is faster than decoding twice); CSV and Parquet records as dictionaries. A UTF-8
byte order mark at the start of a JSON Lines or CSV file (Excel's "CSV UTF-8" and
Windows Notepad write one) is not part of the first record. Text is UTF-8 unless the
run names another encoding (:func:`text_encoding`, such as GB18030 for a Chinese Excel
export); readers hand it on as UTF-8 either way. JSON Lines and CSV may come
gzip-compressed (``events.jsonl.gz``). Suffixes are read in any case (``EXPORT.CSV``).
Streams, standard input (named ``-``) and named pipes (a shell's ``<(zcat a.gz)``, a
``mkfifo`` FIFO), are told by their first bytes instead (:func:`read_records`).

Readers work in blocks (a quarter MiB of lines, some hundred CSV rows, a Parquet batch)
and ask a :class:`Share` before each block whether to make records of it. Worker
processes split a file this way: each makes records of its own blocks only and passes
over the others, which for JSON Lines costs one count of newlines per block.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import os
import stat
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache, partial
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

from cardtrace.domain.events import EVENT_MODELS, INTEGER_FIELDS, LIST_FIELDS
from cardtrace.errors import InvalidInput

__all__ = [
    "FILE_TYPES",
    "MAX_RECORD_BYTES",
    "STDIN",
    "SUFFIXES",
    "UTF8",
    "Discovered",
    "Record",
    "Share",
    "discover",
    "input_bytes",
    "is_stream",
    "read_records",
    "text_encoding",
    "undecodable",
]

#: A longer JSON Lines line is rejected without being held in memory. In CSV it bounds
#: a cell (the csv module's field size limit), not a row: a longer cell is rejected.
MAX_RECORD_BYTES = 1 << 20
#: Separator of list values (``purposes``, ``top_cells``) inside one CSV cell.
CSV_LIST_SEPARATOR = ";"
#: Bytes of JSON Lines read at a time: one block of records.
_JSONL_BLOCK = 1 << 18
#: CSV rows in one block of records.
_CSV_BLOCK = 512
_PARQUET_BATCH = 4096
_BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
#: Bytes of a stream looked at to tell JSON Lines from CSV.
_SNIFF_BYTES = 4096
#: The path that stands for standard input (``cardtrace ingest -``).
STDIN = Path("-")
#: The encoding of text files unless a run names another (:func:`text_encoding`).
UTF8 = "utf-8"
#: Every printable ASCII character and the line ends: what JSON Lines and CSV are split
#: and parsed by, so an encoding must read and write them as ASCII does; and escapes and
#: shifts, which some codecs read as other characters (ISO-2022's ESC sequences, UTF-7).
_ASCII = "".join(map(chr, range(32, 127))) + "\t\r\n\\u0041\\x41+AGEA-~{\x1b$B\x1b(B"
#: Guessed for a line or value that is not UTF-8, to say which ``--encoding`` may read it.
_LIKELY = "gb18030"
#: The first character UTF-8 writes in three bytes, as it writes every Chinese one.
_THREE_BYTES = "\u0800"

Progress = Callable[[int], None]


#: What ends the reading of a file part-way (or before its first record): I/O errors,
#: including a file that cannot be opened, and corrupt or cut-short compressed data.
_BREAKS = (OSError, EOFError, zlib.error)


class Record(NamedTuple):
    """One input record: its line (row) number, and its content or what is wrong with it."""

    line: int
    data: bytes | dict[str, Any] | None
    field: str | None = None
    problem: str | None = None
    #: The file could not be read from this line on: this record stands for all the rest.
    unread_rest: bool = False
    #: The last line of a CSV record that runs over several lines (a quoted line break,
    #: or a quote left open, which takes the lines after it into one cell).
    last_line: int | None = None


def _unread_rest(line: int, reason: str) -> Record:
    """The last record of a file that could be read only up to ``line`` (exclusive)."""
    one_line = " ".join(reason.split())  # library messages may span lines; a reason does not
    return Record(line, None, None, f"{one_line}; nothing from this line on could be read", True)


def _break_reason(error: BaseException) -> str:
    if isinstance(error, gzip.BadGzipFile):
        return f"the compressed data is corrupt or cut short ({_gzip_fault(error)})"
    if isinstance(error, (EOFError, zlib.error)):  # fixed texts of gzip's and zlib's
        return f"the compressed data is corrupt or cut short ({error})"
    if isinstance(error, OSError) and error.strerror:
        return f"cannot read the file: {error.strerror}"
    return f"cannot read the file: {error}"


def _gzip_fault(error: gzip.BadGzipFile) -> str:
    """gzip's words for what is wrong, without the values it writes after them.

    Those are the input's: the first two bytes of data that is not gzip (``Not a gzipped
    file (b'91')``, the start of a PIN in a dump misnamed ``.gz``, or of what follows the
    compressed data), and the checksums of a CRC error. The rejects file never holds the
    input.
    """
    return " ".join(itertools.takewhile(str.isalpha, str(error).split()))


class Share:
    """Which blocks of records are this reader's: every ``shares``-th, from the ``index``-th.

    Called once per block, in reading order and across files, so n readers of the same
    files with indexes 0 to n-1 make records of every block exactly once between them.
    """

    __slots__ = ("_index", "_next", "_shares")

    def __init__(self, index: int = 0, shares: int = 1) -> None:
        self._index = index
        self._shares = shares
        self._next = 0

    def __call__(self) -> bool:
        block = self._next
        self._next += 1
        return block % self._shares == self._index


#: A reader of one format: the open file, its path, progress, share and text encoding ->
#: its records.
Reader = Callable[[IO[bytes], Path, Progress, Share, str], Iterator[Record]]


class Discovered(NamedTuple):
    """The data files found, and what the folders hold that is not read (named to the user)."""

    files: list[Path]
    ignored: list[Path]
    #: Files in the folders whose name contains ``truth``: a synthetic world's answers,
    #: which are not events (a file named as a ``PATH`` is read whatever its name).
    ground_truth: list[Path]


def _file_type(path: Path) -> str | None:
    """The reader's suffix of ``path`` (``.csv`` for ``a.csv.gz``), or None if none reads it.

    In any case: exports from Windows often come as ``EXPORT.CSV``.
    """
    suffix = path.suffix.lower()
    if suffix in _COMPRESSED:
        suffix = Path(path.stem).suffix.lower()
        return suffix if suffix in _TEXT_SUFFIXES else None
    return suffix if suffix in SUFFIXES else None


def _compressed(path: Path) -> bool:
    return path.suffix.lower() in _COMPRESSED


def _unsupported(path: Path) -> InvalidInput:
    return InvalidInput(
        f"{path}: unsupported file type {''.join(path.suffixes) or '(none)'}; "
        f"expected one of {FILE_TYPES}"
    )


def text_encoding(name: str) -> str:
    """The codec name of ``name`` (``GBK`` -> ``gbk``), if text files can be read in it.

    It must read and write ASCII as ASCII does (GB18030, GBK, Big5, Shift JIS, Latin-1
    do; UTF-16, UTF-7, ISO-2022 and escape codecs do not), since lines are found by their
    newline byte, the readers split cells and sniff formats by ASCII characters, and an
    ASCII line is handed on undecoded. UTF-8 with a byte order mark is UTF-8: the readers
    skip the mark.
    """
    try:
        codec = codecs.lookup(name).name
    except (LookupError, ValueError):  # unknown, or not even a name (a NUL, a surrogate)
        raise InvalidInput(f"encoding {name!r}: not a text encoding Python knows") from None
    if codec == "utf-8-sig":
        return UTF8
    try:
        ascii_kept = _ASCII.encode(codec) == _ASCII.encode() and (
            _ASCII.encode().decode(codec) == _ASCII
        )
    except LookupError:  # a codec of bytes or of text alone (base64, rot13)
        raise InvalidInput(f"encoding {name!r}: not a text encoding Python knows") from None
    except UnicodeError:
        ascii_kept = False
    if not ascii_kept:
        raise InvalidInput(
            f"encoding {name!r} does not keep ASCII bytes as ASCII, which lines, cells and "
            "JSON are found by; name one that does (UTF-8, GB18030, GBK, Big5, ...)"
        )
    return codec


def undecodable(raw: bytes, encoding: str) -> str | None:
    """Why ``raw`` is not text in ``encoding``: "is not valid GB18030" and what may read it.

    None when it is. With an encoding other than UTF-8, text that is valid UTF-8 with a
    character from U+0800 on (all of Chinese) is refused too: a UTF-8 file ingested as
    GB18030 by mistake would mostly decode, into the wrong characters, and the log keeps
    what it stores. GB18030 text seldom reads so as UTF-8 (docs/ingest.md); such a line
    is refused, not guessed at.
    """
    return _problem(raw, encoding, _text(raw, encoding))


def _problem(raw: bytes, encoding: str, text: str | None) -> str | None:
    """:func:`undecodable` for ``raw`` already decoded: ``text``, or None if it failed."""
    if encoding != UTF8 and not raw.isascii():
        as_utf8 = _text(raw, UTF8)
        if as_utf8 is not None and max(as_utf8) >= _THREE_BYTES:
            return f"is UTF-8 text, not {encoding.upper()}: ingest its file without --encoding"
    if text is not None:
        return None
    problem = f"is not valid {encoding.upper()}"
    if encoding == UTF8 and _text(raw, _LIKELY) is not None:
        return f"{problem} (it reads as {_LIKELY.upper()}: if so, name --encoding {_LIKELY})"
    return problem


def _text(raw: bytes, encoding: str) -> str | None:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return None


def is_stream(path: Path) -> bool:
    """Whether ``path`` is read as a stream: once, from its start, by one process.

    Standard input (``-``) and named pipes: what a shell's process substitution names
    (``<(zcat a.gz)`` is ``/dev/fd/63``) and FIFOs made with ``mkfifo``.
    """
    return path == STDIN or path.is_fifo()


def discover(paths: Iterable[Path], skip: Iterable[Path] = ()) -> Discovered:
    """The data files named by ``paths`` (folders read recursively, ground truth skipped).

    ``skip`` are files of the run's own (its rejects file): skipped in a folder, refused
    when named, since the run would overwrite them. A stream may be named once.
    """
    skipped = {path.resolve() for path in skip}
    discovered = Discovered([], [], [])
    pipes: dict[tuple[int, int], Path] = {}  # by device and inode: one pipe, two names
    for path in paths:
        try:
            if path == STDIN:
                if sys.stdin is None:  # started with it closed (`<&-`): nothing to read
                    raise InvalidInput("-: standard input is closed")
                _add_stream(path, _pipe_of_stdin(), pipes, discovered)
            elif path.is_fifo():
                status = path.stat()
                _add_stream(path, (status.st_dev, status.st_ino), pipes, discovered)
            else:
                _discover_path(path, skipped, discovered)
        except OSError as exc:  # a name too long, a folder that cannot be listed
            raise InvalidInput(f"{path}: {exc.strerror or exc}") from None
    return discovered


def _pipe_of_stdin() -> tuple[int, int] | None:
    """Standard input's device and inode when it is a pipe (else None)."""
    try:
        status = os.fstat(sys.stdin.fileno())
    except (OSError, ValueError):  # replaced by an object with no descriptor (tests)
        return None
    return (status.st_dev, status.st_ino) if stat.S_ISFIFO(status.st_mode) else None


def _add_stream(
    path: Path, pipe: tuple[int, int] | None, pipes: dict[tuple[int, int], Path], found: Discovered
) -> None:
    # Only the first reader of a pipe gets its data; a second would read nothing, so
    # naming one twice (or as ``-`` and ``/dev/stdin``) is refused.
    named = pipes.get(pipe) if pipe is not None else None
    if path in found.files or named is not None:
        what = "standard input" if STDIN in (path, named) else "a pipe"
        also = f" (also as {named})" if named not in (None, path) else ""
        raise InvalidInput(f"{path}: {what} can be read only once{also}")
    if pipe is not None:
        pipes[pipe] = path
    found.files.append(path)


def _discover_path(path: Path, skipped: set[Path], discovered: Discovered) -> None:
    if path.is_dir():
        _discover_in(path, skipped, discovered)
    elif path.is_file():
        if path.resolve() in skipped:
            raise InvalidInput(
                f"{path} is where this run writes its rejects; name another file with --rejects"
            )
        if _file_type(path) is None:
            raise _unsupported(path)
        discovered.files.append(path)
    elif path.exists():
        raise InvalidInput(
            f"{path}: not a regular file, a folder or a pipe (name - for standard input)"
        )
    else:
        raise InvalidInput(f"{path}: no such file or folder")


def _discover_in(folder: Path, skipped: set[Path], discovered: Discovered) -> None:
    for file in sorted(folder.rglob("*")):
        if file.is_dir() and not file.is_symlink():
            continue  # its files come in their turn
        if file.resolve() in skipped:
            continue
        if "truth" in file.name:
            discovered.ground_truth.append(file)
            continue
        # Named, not read: other types, and what is not a regular file (a pipe, a broken
        # link, a link to a folder, which is not followed).
        readable = file.is_file() and _file_type(file) is not None
        (discovered.files if readable else discovered.ignored).append(file)


def input_bytes(files: Sequence[Path]) -> int | None:
    """The size of ``files`` together, or None when one is a stream (size unknown)."""
    if any(is_stream(file) for file in files):
        return None
    return sum(file.stat().st_size for file in files)


def read_records(
    path: Path,
    progress: Progress | None = None,
    share: Share | None = None,
    encoding: str = UTF8,
) -> Iterator[Record]:
    """The records of ``path`` (of the blocks ``share`` keeps), by the reader of its suffix.

    Text is read in ``encoding`` (a name :func:`text_encoding` gave); Parquet is UTF-8
    whatever it says.

    A stream (:func:`is_stream`), whatever its name, is read as gzip if it starts as gzip
    does, then as JSON Lines if its first character (after a byte order mark and white
    space) is ``{``, else as CSV.
    """
    advance, keep = progress or _ignore, share or Share()
    try:
        if path == STDIN:
            yield from _read_stream(sys.stdin.buffer, path, advance, keep, encoding)
        elif path.is_fifo():
            with path.open("rb") as pipe:
                yield from _read_stream(pipe, path, advance, keep, encoding)
        else:
            yield from _read_file(path, advance, keep, encoding)
    except _BREAKS as error:
        # Readers end a file themselves when it breaks after their first read; what
        # comes here broke before it: opening the file, or sniffing standard input.
        if keep():
            yield _unread_rest(1, _break_reason(error))


def _read_file(path: Path, advance: Progress, keep: Share, encoding: str) -> Iterator[Record]:
    kind = _file_type(path)
    if kind is None:
        raise _unsupported(path)
    with path.open("rb") as handle:
        if _compressed(path):
            yield from _read_compressed(handle, path, SUFFIXES[kind], advance, keep, encoding)
        else:
            yield from SUFFIXES[kind](handle, path, advance, keep, encoding)


def _ignore(_: int) -> None:
    return None


def _read_stream(
    stream: IO[bytes], path: Path, advance: Progress, keep: Share, encoding: str
) -> Iterator[Record]:
    """Records of a stream, whose type its first bytes tell, not its name."""
    handle = io.BufferedReader(_Counted(stream))
    head = handle.peek(len(_PARQUET_MAGIC))
    if head.startswith(_PARQUET_MAGIC):
        # A Parquet file's index is at its end, which a stream reaches only last.
        if keep():
            yield _unread_rest(
                1,
                "Parquet data cannot be read from a pipe or standard input (name the file itself)",
            )
    elif head.startswith(_GZIP_MAGIC):
        yield from _read_compressed(handle, path, _read_sniffed, advance, keep, encoding)
    else:
        yield from _read_sniffed(handle, path, advance, keep, encoding)


def _read_sniffed(
    handle: IO[bytes], path: Path, advance: Progress, keep: Share, encoding: str
) -> Iterator[Record]:
    """JSON Lines if the data starts with ``{`` (or is blank), else CSV."""
    head = cast("io.BufferedReader", handle).peek(_SNIFF_BYTES).removeprefix(_BOM).lstrip()
    reader = _read_jsonl if head[:1] in {b"{", b""} else _read_csv
    yield from reader(handle, path, advance, keep, encoding)


class _Counted(io.RawIOBase):
    """A pipe as the readers need a file: it tells how far it has been read."""

    def __init__(self, source: IO[bytes]) -> None:
        super().__init__()
        self._source = source
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position


def _read_compressed(  # noqa: PLR0917 - a reader's arguments, and the reader
    raw: IO[bytes], path: Path, reader: Reader, advance: Progress, keep: Share, encoding: str
) -> Iterator[Record]:
    """Records of a gzip file; progress counts the compressed bytes, as the file's size does.

    Corrupt or cut-short data surfaces as an error of a read, which the reader turns
    into the file's last record (nothing after it can be read).
    """
    done = 0

    def compressed_progress(_: int) -> None:
        nonlocal done
        position = raw.tell()
        advance(position - done)
        done = position

    with gzip.GzipFile(fileobj=raw, mode="rb") as handle:
        # A GzipFile is a binary file in all the readers use, but not in typeshed's words.
        yield from reader(cast("IO[bytes]", handle), path, compressed_progress, keep, encoding)
    compressed_progress(0)


def _read_jsonl(
    handle: IO[bytes], _path: Path, advance: Progress, keep: Share, encoding: str
) -> Iterator[Record]:
    before = 0  # lines before the current block
    rest = b""  # the start of a line the last read cut off
    first = True
    try:
        while data := handle.read(_JSONL_BLOCK):
            advance(len(data))
            if first:
                data, first = data.removeprefix(_BOM) if encoding == UTF8 else data, False
            block = rest + data
            end = block.rfind(b"\n") + 1
            if not end:
                if len(block) > MAX_RECORD_BYTES:
                    rest = b""
                    advance(_skip_rest_of_line(handle))
                    before += 1
                    if keep():
                        yield _too_long(before)
                else:
                    rest = block
                continue
            rest = block[end:]
            if keep():
                yield from _jsonl_lines(block[:end].split(b"\n")[:-1], before, encoding)
            before += block.count(b"\n", 0, end)
    except _BREAKS as error:
        if keep():  # every share breaks at the same read, so one of them says so
            yield _unread_rest(before + 1, _break_reason(error))
        return
    if rest and keep():
        yield from _jsonl_lines([rest], before, encoding)


def _jsonl_lines(lines: list[bytes], before: int, encoding: str) -> Iterator[Record]:
    utf8 = encoding == UTF8  # the validator reads UTF-8 itself
    for number, line in enumerate(lines, before + 1):
        if len(line) > MAX_RECORD_BYTES:
            yield _too_long(number)
        elif line.strip():
            yield Record(number, line) if utf8 else _decoded_line(number, line, encoding)


def _decoded_line(number: int, line: bytes, encoding: str) -> Record:
    """The record of a line in ``encoding``, as UTF-8 (or why it cannot be read)."""
    if line.isascii():
        return Record(number, line)
    text = _text(line, encoding)
    problem = _problem(line, encoding, text)
    if problem is not None or text is None:
        return Record(number, None, None, f"line {problem}")
    return Record(number, text.encode())


def _too_long(number: int) -> Record:
    return Record(number, None, None, f"line is longer than {MAX_RECORD_BYTES} bytes")


def _skip_rest_of_line(handle: IO[bytes]) -> int:
    """Read up to and including the next newline; return how many bytes that was."""
    skipped = 0
    while chunk := handle.readline(_JSONL_BLOCK):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def _read_csv(
    handle: IO[bytes], _path: Path, advance: Progress, keep: Share, encoding: str
) -> Iterator[Record]:
    csv.field_size_limit(MAX_RECORD_BYTES)
    # Undecodable bytes become lone surrogates, so the cell that holds them is named.
    decode = "utf-8-sig" if encoding == UTF8 else encoding
    text = io.TextIOWrapper(handle, encoding=decode, errors="surrogateescape", newline="")
    try:
        rows = _csv_rows(csv.reader(text), handle, advance, encoding)
        while block := list(itertools.islice(rows, _CSV_BLOCK)):
            if keep():
                yield from (record() for record in block)
    finally:
        text.detach()  # the caller closes the file, not the wrapper


def _csv_rows(
    rows: Any, handle: IO[bytes], advance: Progress, encoding: str
) -> Iterator[Callable[[], Record]]:
    """The rows, each as a function making its record (only the kept ones are made)."""
    header = _csv_header(rows)
    if isinstance(header, str):  # no row can be read without it
        yield partial(_unread_rest, 1, header)
    if not isinstance(header, list):
        return
    header_problem = _header_problem(header, encoding)
    position = 0  # the header is read: what it took counts with the first row
    start = rows.line_num + 1
    while True:
        try:
            cells = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = f"malformed CSV: {exc}"
            yield partial(Record, start, None, None, problem, last_line=_last(start, rows))
            start = rows.line_num + 1
            continue
        except _BREAKS as error:
            yield partial(_unread_rest, start, _break_reason(error))
            return
        now = handle.tell()
        advance(now - position)
        position = now
        line, start = start, rows.line_num + 1
        if not cells:
            continue
        last = _last(line, rows)
        if header_problem is not None:
            field, problem = header_problem
            yield partial(Record, line, None, field, problem, last_line=last)
        else:
            yield partial(_csv_record, line, last, header, cells, encoding)


def _csv_header(rows: Any) -> list[str] | str | None:
    """The header's field names, why it cannot be read, or None for an empty file."""
    try:
        header: list[str] = next(rows)
    except StopIteration:
        return None
    except csv.Error as exc:
        return f"the CSV header cannot be read (malformed CSV: {exc})"
    except _BREAKS as error:
        return _break_reason(error)
    if rows.line_num > 1:
        # No field name holds a line break: most likely a quote left open has taken the
        # lines after the header into it (to the end of the file if no quote closes it),
        # and rows read against such a header would all be wrong.
        return (
            f"the CSV header runs over lines 1 to {rows.line_num} "
            "(a quote left open, or a line break in a column name)"
        )
    return header


def _header_problem(header: list[str], encoding: str) -> tuple[str | None, str] | None:
    """What makes every row under ``header`` unreadable: its field and reason, if anything."""
    if not header:  # a blank first line: the rows have no field names to go by
        return None, "the CSV header (line 1) is empty"
    # Before the repeat check: a name that was not decoded cannot be written as a field.
    at = next((at for at, name in enumerate(header) if not _decoded(name)), None)
    if at is not None:
        return None, _header_not_decoded(header, at, encoding)
    repeated = _repeated(header)
    if repeated is not None:
        return repeated, "column appears twice in the header"
    return None


def _header_not_decoded(header: list[str], at: int, encoding: str) -> str:
    """Why no row can be read under ``header``: its column ``at`` (from 0) is not text.

    The column is named by its position, and by a neighbour only if that is an event
    field's name: a file sent without its header row has a data row in its place, so
    nothing else of it is repeated.
    """
    known = _field_names()
    before = header[at - 1] if at > 0 else None
    after = header[at + 1] if at + 1 < len(header) else None
    if before in known:
        where = f" (after {before!r})"
    elif after in known:
        where = f" (before {after!r})"
    else:
        where = ""
    return (
        f"column {at + 1}{where} of the CSV header (line 1) {_cell_problem(header[at], encoding)}"
    )


@cache
def _field_names() -> frozenset[str]:
    """The names of the fields of every event type."""
    return frozenset(name for model in EVENT_MODELS.values() for name in model.model_fields)


def _decoded(text: str) -> bool:
    """Whether ``text``, read with ``surrogateescape``, was all decoded (no escaped bytes)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _cell_problem(cell: str, encoding: str) -> str | None:
    """:func:`undecodable` of the bytes ``cell`` was read from with ``surrogateescape``."""
    return _problem(_raw(cell, encoding), encoding, cell if _decoded(cell) else None)


def _raw(text: str, encoding: str) -> bytes:
    """The bytes ``text`` was read from with ``surrogateescape``."""
    return text.encode(encoding, "surrogateescape")


def _last(line: int, rows: Any) -> int | None:
    """The last line of the CSV record that starts at ``line``, if it is not ``line``."""
    return rows.line_num if rows.line_num > line else None


def _csv_record(
    line: int, last: int | None, header: list[str], cells: list[str], encoding: str
) -> Record:
    if len(cells) != len(header):
        problem = f"row has {len(cells)} cells, header has {len(header)}"
        return Record(line, None, None, problem, last_line=last)
    joined = "".join(cells)
    # In UTF-8, only a row holding bytes it could not decode is looked at cell by cell;
    # in another encoding, every row that is not ASCII (UTF-8 text named otherwise).
    if not joined.isascii() and (encoding != UTF8 or not _decoded(joined)):
        for name, cell in zip(header, cells, strict=True):
            fault = None if cell.isascii() else _cell_problem(cell, encoding)
            if fault is not None:
                return Record(line, None, name, f"value {fault}", last_line=last)
    data: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        if cell != "":
            if name in INTEGER_FIELDS and not _digits(cell):
                return Record(line, None, name, _NOT_DIGITS, last_line=last)
            data[name] = cell.split(CSV_LIST_SEPARATOR) if name in LIST_FIELDS else cell
    return Record(line, data, last_line=last)


#: Why a number written as text (a CSV cell, a value of a Parquet text column) is
#: refused. pydantic would read ``3_000``, ``+30``, `` 30 `` and ``30.0`` as numbers; a
#: number is sent as digits.
_NOT_DIGITS = "number must be written in digits alone, e.g. 30 (no '+', spaces, '_' or '.')"


def _digits(cell: str) -> bool:
    """Whether ``cell`` is ASCII digits, after a minus sign if any (refused as negative).

    The one rule for a number written as text, in CSV and Parquet alike.
    """
    digits = cell.removeprefix("-")
    return digits.isascii() and digits.isdigit()


def _repeated(columns: list[str]) -> str | None:
    """The first column named twice: reading rows by name would keep one of the two."""
    return next((name for name in columns if columns.count(name) > 1), None)


def _read_parquet(
    handle: IO[bytes], path: Path, advance: Progress, keep: Share, _encoding: str
) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # A damaged file may also hold names that are not UTF-8 (``UnicodeDecodeError``).
    breaks = (pa.ArrowException, OSError, ValueError)
    try:
        parquet = pq.ParquetFile(handle)
        total_rows = max(parquet.metadata.num_rows, 1)
        repeated = _repeated(parquet.schema_arrow.names)
    except breaks as exc:
        if keep():
            yield _unread_rest(1, f"not a readable Parquet file ({_parquet_fault(exc)})")
        return
    size = path.stat().st_size
    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH):
            if keep():
                yield from _parquet_records(batch, number, repeated)
            number += batch.num_rows
            advance(size * batch.num_rows // total_rows)
    except breaks as exc:
        if keep():  # every share breaks at the same batch, so one of them says so
            yield _unread_rest(number + 1, f"unreadable Parquet data ({_parquet_fault(exc)})")


def _parquet_fault(error: Exception) -> str:
    """pyarrow's words for what is wrong with a Parquet file, without the file's bytes.

    Its messages tell the file's structure (sizes, type codes), except where they quote
    bytes: Python's decoder names the byte of a column name that is not UTF-8, and
    Thrift writes a type code it does not know as a raw character (0 to 15: a control
    character, made a space as line ends are). The rejects file never holds the input.
    """
    if isinstance(error, UnicodeDecodeError):
        return "a column name is not valid UTF-8"
    return "".join(char if char.isprintable() else " " for char in str(error))


def _parquet_records(batch: Any, before: int, repeated: str | None) -> Iterator[Record]:
    """The records of one batch, numbered on from ``before``."""
    if repeated is not None:
        for number in range(before + 1, before + batch.num_rows + 1):
            yield Record(number, None, repeated, "column appears twice in the schema")
        return
    batch = _flags_as_text(batch)
    texts = _text_numbers(batch)
    try:
        rows = batch.to_pylist()
    except _PARQUET_VALUE_ERRORS:  # a value Python cannot hold: find its row, and the next
        yield from (_parquet_row(batch, at, before + 1 + at, texts) for at in range(batch.num_rows))
        return
    for number, row in enumerate(rows, before + 1):
        yield _parquet_record(number, row, texts)


def _text_numbers(batch: Any) -> list[str]:
    """The integer fields whose column in ``batch`` is not one of numbers (text, mostly).

    The validator would read text by pydantic's lax rules (``5_0``, `` 50``, ``+50`` and
    ``50.0`` as 50), so such a column's values are held to a CSV cell's (:func:`_digits`).
    Integer and float columns hold numbers, which the validator takes as they are.
    """
    import pyarrow as pa

    return [
        name
        for name, column in zip(batch.schema.names, batch.columns, strict=True)
        if name in INTEGER_FIELDS
        and not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type))
    ]


def _parquet_record(number: int, row: dict[str, Any], texts: list[str]) -> Record:
    """The record of ``row``, or why not: one of its ``texts`` is not a number in digits."""
    for name in texts:
        value = row[name]
        # A binary column's bytes one character each: only ASCII digits are digits.
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if isinstance(text, str) and not _digits(text):
            return Record(number, None, name, _NOT_DIGITS)
    return Record(number, {k: v for k, v in row.items() if v is not None})


def _flags_as_text(batch: Any) -> Any:
    """``batch`` with boolean columns as the text ``true``/``false``.

    No event field is a flag, and the validator would read ``True`` as the integer 1
    (an amount of 1 fen); as text it is refused like the same value in a CSV file.
    """
    import pyarrow as pa

    columns = batch.columns
    if not any(pa.types.is_boolean(column.type) for column in columns):
        return batch
    return pa.RecordBatch.from_arrays(
        [
            column.cast(pa.string()) if pa.types.is_boolean(column.type) else column
            for column in columns
        ],
        names=batch.schema.names,
    )


#: What a Parquet value may raise on its way into Python: bytes in a string column that
#: are not UTF-8 (a ``UnicodeDecodeError``), a time beyond Python's years, ...
_PARQUET_VALUE_ERRORS = (ValueError, ArithmeticError)


def _parquet_row(batch: Any, position: int, number: int, texts: list[str]) -> Record:
    """One row of ``batch``, value by value, so a value that cannot be read is named."""
    row: dict[str, Any] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            value = column[position].as_py()
        except _PARQUET_VALUE_ERRORS as error:
            # The error's own message may quote the value: it is not repeated.
            if isinstance(error, UnicodeDecodeError):
                reason = "value is not valid UTF-8"
            elif isinstance(error, OverflowError):
                reason = "value is out of range"
            else:
                reason = f"value cannot be read ({type(error).__name__})"
            return Record(number, None, name, reason)
        row[name] = value
    return _parquet_record(number, row, texts)


#: File suffix -> reader.
SUFFIXES: dict[str, Reader] = {
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
    ".csv": _read_csv,
    ".parquet": _read_parquet,
}
#: The formats that may come compressed, and how (``events.jsonl.gz``).
_TEXT_SUFFIXES = frozenset({".jsonl", ".ndjson", ".csv"})
_COMPRESSED = frozenset({".gz"})
#: The file types a reader knows, as users are told.
FILE_TYPES = ", ".join([*sorted(SUFFIXES), *sorted(f"{t}.gz" for t in _TEXT_SUFFIXES)])
