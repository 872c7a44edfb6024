"""The ingest pipeline: read -> validate -> protect -> store, in batches, losing nothing.

A bad record never stops the run and is never half-written: it goes to the reject file
(one JSON object per line: file, line, field, reason, never the input itself) and the
run goes on. Nor does a file that breaks part-way: one reject stands for its rest. Good
records are prepared in batches and stored in transactions of ``batch_size`` events
(several batches each), so a run killed at any point and started again stores every
event exactly once (the event id is the idempotency key).
"""

from __future__ import annotations

import copy
import gc
import itertools
import json
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Self

import orjson
from pydantic import ValidationError

from cardtrace.domain.cards import CARD_FORMATS, CardFormat
from cardtrace.domain.events import LIST_FIELDS, Envelope, event_adapter
from cardtrace.errors import InvalidInput
from cardtrace.files import FileKind, check_output
from cardtrace.ingest.protect import ProtectionKeys, Protector
from cardtrace.ingest.readers import UTF8, Record, Share, is_stream, read_records, undecodable
from cardtrace.store.rows import EventBatch
from cardtrace.text import printable

if TYPE_CHECKING:
    from cardtrace.store.database import AppendResult, Database

__all__ = [
    "CLOCK_SKEW",
    "OTHER_NODE_ERASURE",
    "PREPARED_RECORDS",
    "REJECTS_FILE",
    "UNREAD_REST",
    "WHOLE_RECORD",
    "IngestSummary",
    "Prepared",
    "QueueMerges",
    "Rejected",
    "collecting_less",
    "ingest_files",
    "prepare_batches",
    "validate",
]

#: How far in the future an event time may lie (clocks of recording nodes drift).
CLOCK_SKEW = timedelta(minutes=5)
#: Queued link rows that trigger the first merge into the links index during a long run;
#: each later merge of the run waits for twice as many (:class:`QueueMerges`).
LINK_MERGE_ROWS = 2_000_000
#: Queued event ids that trigger a merge into the event-id index: small enough that the
#: queue stays a few MiB (a transaction dirties most of its pages), large enough that the
#: big index, rewritten by each merge, is rewritten rarely (docs/performance.md).
ID_MERGE_ROWS = 200_000
#: Records per prepared batch, the unit a worker sends; a transaction takes several.
PREPARED_RECORDS = 2_500
#: How ``IngestSummary.rejected_by_field`` names "the record as a whole".
WHOLE_RECORD = "(whole record)"
#: Key of a reject that stands for the rest of a file, which could not be read on.
UNREAD_REST = "rest_of_file_unread"
#: The warning counted for an erasure naming another node's event, which it cannot erase.
OTHER_NODE_ERASURE = (
    "target_event_id: names another node's event, which only that node can erase; nothing erased"
)
#: Allocations between young-generation collections during a run (Python's default: 700).
_GC_YOUNG_THRESHOLD = 50_000


@contextmanager
def collecting_less() -> Iterator[None]:
    """Far fewer garbage collections while a run allocates millions of short-lived objects.

    With the default settings the collector cost ~4 µs per record in a worker
    (docs/performance.md): every few hundred allocations it walks the young objects, and
    every few collections every object the process holds, including the imported modules
    and validators. Here those are frozen out of its sight and the young generation is
    collected less often; batches hold no reference cycles, so nothing piles up.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class Rejected(Exception):
    """A record is refused: ``field`` (or None for the whole record) and ``reason``."""

    def __init__(self, field: str | None, reason: str, more: int = 0) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.more = more


@dataclass
class IngestSummary:
    """What a run did, for the CLI and for scripts (``--json``)."""

    files: int = 0
    #: Nothing was stored: the counts say what an ingest would have done.
    dry_run: bool = False
    #: What the folders held that was not read: files of no type a reader knows, and
    #: what is not a regular file (a pipe, a broken link, a link to a folder).
    ignored_files: list[Path] = field(default_factory=list)
    #: Ground-truth files in the folders (name containing ``truth``), skipped.
    ground_truth_files: list[Path] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    #: Of the rejected: records whose id is stored with different content.
    conflicts: int = 0
    #: Files that could not be read to the end, each with the line where reading stopped
    #: and why (the records before that line were read; one reject stands for the rest).
    incomplete_files: list[tuple[str, int, str]] = field(default_factory=list)
    #: The rejected by the field at fault (``WHOLE_RECORD`` when the record as a whole is).
    rejected_by_field: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    accepted_by_type: Counter[str] = field(default_factory=Counter)
    #: Stored events whose sealed personal data the run's erasures deleted (in a dry
    #: run: would delete).
    erased: int = 0
    #: Stored erasures whose event is not stored yet, after the run: the ingest that
    #: stores the event erases it.
    erasures_waiting: int = 0
    #: The run was stopped (Ctrl-C, SIGTERM, an error) before it ended: the counts are
    #: those of its finished transactions, which are kept.
    stopped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "stopped": self.stopped,
            "files": self.files,
            "ignored_files": len(self.ignored_files),
            "ground_truth_files": len(self.ground_truth_files),
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "conflicts": self.conflicts,
            "incomplete_files": len(self.incomplete_files),
            "rejected_by_field": dict(self.rejected_by_field.most_common()),
            "warnings": dict(self.warnings.most_common()),
            "accepted_by_type": dict(sorted(self.accepted_by_type.items())),
            "erased": self.erased,
            "erasures_waiting": self.erasures_waiting,
        }


def validate(data: bytes | dict[str, Any], now: datetime) -> Envelope:
    """The event in ``data`` (JSON bytes or a dict), or :class:`Rejected` saying why not."""
    adapter = event_adapter()
    try:
        if isinstance(data, bytes):
            # Strict: a JSON value must have the field's JSON type (no ``true`` for 1 and
            # no ``"100"`` for 100). Text cells of CSV are converted, as they must be.
            event: Envelope = adapter.validate_json(data, strict=True)
        else:
            event = adapter.validate_python(data)
    except ValidationError as exc:
        # Raised straight from the call, never held in a local: a frame that refers to
        # the exception it raises forms a reference cycle with its traceback, which
        # would keep the caller's whole batch alive until the next full collection.
        raise _rejection(exc, data) from None
    if isinstance(data, bytes):
        repeated = _repeated_key(data, event)
        if repeated is not None:
            raise Rejected(repeated, "field appears twice in the record")
    latest = now + CLOCK_SKEW
    for name in ("occurred_at", "recorded_at"):
        if getattr(event, name) > latest:
            raise Rejected(name, "time is in the future")
    return event


def _repeated_key(data: bytes, event: Envelope) -> str | None:
    """The first field that ``data``, which ``event`` was validated from, names twice.

    JSON parsers keep the last of two equal keys (RFC 8259 leaves it open), so a line
    naming ``pin`` twice would be stored with one value while another reader sees the
    other; such a line is refused. Usually one count of commas proves there is no
    repeat: n members of an object take n - 1 commas, a list of k items k - 1, and
    commas in strings or in a repeated member only add to that, so a line with exactly
    the commas that ``event``'s fields and lists take names no member twice. Otherwise
    the line is parsed once more, keeping every key.
    """
    values = event.__dict__
    commas = len(event.model_fields_set) - 1
    for name in LIST_FIELDS:
        items = values.get(name)
        if items:
            commas += len(items) - 1
    if data.count(b",") == commas:
        return None
    try:
        first: str | None = json.loads(data, object_pairs_hook=_first_repeated)
    except ValueError:  # the validator's parser accepted it; nothing more to learn
        return None
    return first


def _first_repeated(pairs: list[tuple[str, Any]]) -> str | None:
    """As ``object_pairs_hook``: a record's first repeated key (records are flat)."""
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            return name
        seen.add(name)
    return None


def _rejection(exc: ValidationError, data: bytes | dict[str, Any]) -> Rejected:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    kind = first["type"]
    if kind == "union_tag_not_found":
        return Rejected("type", "missing event type", len(errors) - 1)
    if kind == "union_tag_invalid":
        return Rejected("type", "unknown event type", len(errors) - 1)
    if kind == "json_invalid":
        problem = undecodable(data, UTF8) if isinstance(data, bytes) else None
        if problem is not None:
            return Rejected(None, f"line {problem}")
        # Each record is parsed alone, so the parser's "line 1" is never the file's line.
        reason = (
            first["msg"].removeprefix("Invalid JSON: ").replace(" at line 1 column ", " at column ")
        )
        return Rejected(None, f"malformed JSON: {reason}")
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return Rejected(None, "record is not a JSON object")
    # The first element of the location is the event type (the union's tag): drop it.
    path = [str(part) for part in first["loc"][1:]]
    reason = first["msg"].removeprefix("Value error, ")
    return Rejected(".".join(path) or None, reason, len(errors) - 1)


@dataclass
class Prepared:
    """A batch of prepared records: events to store, rejects to describe, warnings to count."""

    events: EventBatch = field(default_factory=EventBatch)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    warnings: Counter[str] = field(default_factory=Counter)
    records: int = 0
    #: Bytes read per file while making this batch (counted by the first share only).
    read: Counter[Path] = field(default_factory=Counter)
    #: (file, line) of each row, for describing a row the store refuses.
    origins: list[tuple[str, int]] = field(default_factory=list)


def prepare_batches(
    files: Sequence[Path],
    keys: ProtectionKeys,
    *,
    batch_size: int,
    share: tuple[int, int] = (0, 1),
    formats: Mapping[str, CardFormat] = CARD_FORMATS,
    encoding: str = UTF8,
) -> Iterator[Prepared]:
    """Read, validate and protect ``files``; yield a batch every ``batch_size`` records.

    Text files are read in ``encoding`` (:func:`~cardtrace.ingest.readers.text_encoding`).

    ``share = (i, n)`` keeps only every n-th block of records starting at the i-th
    (:class:`~cardtrace.ingest.readers.Share`), so n processes can split the work.
    """
    protector = keys.protector()
    now = datetime.now(UTC)
    index, shares = share
    keep = Share(index, shares)
    batch = Prepared()
    batches = [batch]  # the current batch, where reading progress is counted
    for path in files:
        advance = partial(_count_read, batches, path) if index == 0 else None
        file = printable(str(path))  # once per file: pickled once per batch, not once per row
        for record in read_records(path, advance, keep, encoding):
            _prepare_one(record, file, now, (protector, formats), batch)
            if batch.records >= batch_size:
                yield batch
                batch = batches[0] = Prepared()
    yield batch


def _count_read(batches: list[Prepared], path: Path, size: int) -> None:
    batches[0].read[path] += size


def _prepare_one(
    record: Record,
    file: str,
    now: datetime,
    tools: tuple[Protector, Mapping[str, CardFormat]],
    batch: Prepared,
) -> None:
    batch.records += 1
    protector, formats = tools
    try:
        if record.data is None:
            raise Rejected(record.field, record.problem or "unreadable record")
        event = validate(record.data, now)
        refusal = event.refusal(formats)
        if refusal is not None:
            raise Rejected(*refusal)
    except Rejected as rejected:
        entry = {"file": file, "line": record.line, "field": rejected.field}
        entry["reason"] = rejected.reason
        if rejected.more:
            entry["more_problems"] = rejected.more
        if record.unread_rest:
            entry[UNREAD_REST] = True
        if record.last_line is not None:
            entry["last_line"] = record.last_line
        batch.rejects.append(entry)
        return
    for name, message in event.warnings(formats):
        batch.warnings[f"{name}: {message}"] += 1
    batch.events.add(protector.protect(event))
    batch.origins.append((file, record.line))


def ingest_files(
    files: Sequence[Path],
    database: Database,
    keys: ProtectionKeys,
    *,
    rejects: Path | None,
    batch_size: int,
    workers: int = 0,
    formats: Mapping[str, CardFormat] = CARD_FORMATS,
    encoding: str = UTF8,
    progress: Callable[[Path, int], None] | None = None,
    dry_run: bool = False,
    on_commit: Callable[[IngestSummary], None] | None = None,
) -> IngestSummary:
    """Ingest ``files`` into ``database``; see the module docstring for the guarantees.

    With ``workers`` > 0, that many processes read, validate and protect while this one
    stores (:mod:`cardtrace.ingest.workers`); the result is the same either way. With
    ``dry_run`` nothing is stored: the summary and the rejects file say what would be.
    ``on_commit`` gets a copy of the counts after each transaction: what a run that is
    stopped has stored.
    """
    summary = IngestSummary(files=len(files), dry_run=dry_run)
    size = min(batch_size, PREPARED_RECORDS)
    # A stream has one reader: one process reads it, never n.
    if workers > 0 and not any(is_stream(file) for file in files):
        from cardtrace.ingest.workers import prepare_in_workers

        batches = prepare_in_workers(files, keys, size, workers, formats=formats, encoding=encoding)
    else:
        batches = prepare_batches(files, keys, batch_size=size, formats=formats, encoding=encoding)
    with collecting_less(), _RejectFile(rejects) as reject_file:
        if dry_run:
            with database.would_append() as dry:
                for prepared in batches:
                    _store(prepared, dry.append, summary, reject_file)
                    _report_read(prepared, progress)
                summary.erasures_waiting = dry.erasures_waiting
            return summary
        merges = QueueMerges(database)
        pending = iter(batches)
        for opening in pending:  # a transaction opens once its first batch is ready
            queued, accepted = 0, summary.accepted
            with ExitStack() as reporting:
                with database.appending() as append:
                    stored = 0
                    for prepared in itertools.chain([opening], pending):
                        queued += _store(prepared, append, summary, reject_file)
                        _report_read(prepared, progress)
                        stored += len(prepared.events)
                        if stored >= batch_size:
                            break
                    # From the commit until it is reported, a stop waits: one that came
                    # between them would leave a stored transaction out of the report.
                    reporting.enter_context(_stops_deferred())
                if on_commit is not None:
                    on_commit(copy.deepcopy(summary))
            merges.stored(queued, summary.accepted - accepted)
        merges.finish()
    summary.erasures_waiting = database.erasure_counts()["waiting"]
    return summary


#: The signals that stop a run: Ctrl-C, and ``kill`` or a service manager.
_STOPS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _stops_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM that arrive in the block take effect at its end, not within.

    Their handlers are set aside for the block and the first such signal is raised
    again after it, so it unwinds as it would have (``KeyboardInterrupt``, the CLI's
    SIGTERM exception, or the default action). Python runs handlers in the main thread
    only, whichever thread the signal reaches; elsewhere (a test runner's thread) the
    block defers nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def defer(number: int, _frame: FrameType | None) -> None:
        caught.append(number)

    previous = [(number, signal.signal(number, defer)) for number in _STOPS]
    try:
        yield
    finally:
        for number, handler in previous:
            signal.signal(number, handler)
        if caught:
            signal.raise_signal(caught[0])


def _report_read(prepared: Prepared, progress: Callable[[Path, int], None] | None) -> None:
    if progress is not None:
        for path, size in prepared.read.items():
            progress(path, size)


class QueueMerges:
    """When a run merges its link and event-id queues into their indexes.

    Event ids every ``ID_MERGE_ROWS``: the id queue stays a few MiB. Links at 2, 4, 8,
    ... times ``LINK_MERGE_ROWS`` queued rows: a merge rewrites every page of the links
    index it reaches, however few rows it brings, so the pages written grow with the size
    of the index, not with the square of it. Whatever is queued is merged at the end.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._links = self._ids = 0
        self._links_at = LINK_MERGE_ROWS

    def stored(self, link_rows: int, events: int) -> None:
        """Count a committed transaction's queued link rows and events; merge what is due."""
        self._links += link_rows
        self._ids += events
        if self._links >= self._links_at:
            self._database.integrate_links()
            self._links = 0
            self._links_at *= 2
        if self._ids >= ID_MERGE_ROWS:
            self._database.integrate_ids()
            self._ids = 0

    def finish(self) -> None:
        self._database.integrate_links()
        self._database.integrate_ids()


#: A rejects line is short (it never carries the input), so its first line ends early.
_FIRST_LINE_BYTES = 64 * 1024
_REJECT_KEYS = frozenset({"file", "line", "field", "reason"})


def _holds_rejects(start: bytes) -> bool:
    """Whether a file's start is a line this module writes."""
    line, newline, _ = start.partition(b"\n")
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return bool(newline) and isinstance(entry, dict) and entry.keys() >= _REJECT_KEYS


#: An existing file is replaced only if it is empty or a rejects file (an earlier run's):
#: a mistyped ``--rejects`` naming the database, a key or an input file must not wipe it.
REJECTS_FILE = FileKind(
    "rejects file", "a", "--rejects", _holds_rejects, sniff=_FIRST_LINE_BYTES, stream=True
)


class _RejectFile:
    """The reject file, created on the first reject so a clean run leaves none behind.

    Checked before anything is stored: a run whose rejects could not be written would
    lose them. A rejects file left by an earlier run is removed, so it never describes
    this one; any other file is refused (:data:`REJECTS_FILE`); what is not a
    regular file (``/dev/null``, a pipe) is written to, never removed.
    Each batch's rejects are flushed before its events are stored, so a failed write
    (a full disk) stops the run before it stores records that are described nowhere.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._handle: IO[bytes] | None = None

    def write(self, entries: list[dict[str, Any]]) -> None:
        if not entries or self._path is None:
            return
        try:
            if self._handle is None:
                self._handle = self._path.open("wb")
            self._handle.writelines(orjson.dumps(entry) + b"\n" for entry in entries)
            self._handle.flush()
        except OSError as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: OSError) -> InvalidInput:
        return InvalidInput(f"cannot write the rejects file {self._path}: {exc.strerror}")

    def __enter__(self) -> Self:
        path = self._path
        if path is None:
            return self
        check_output(path, REJECTS_FILE)
        if path.is_symlink() or path.is_file():
            path.unlink()
        return self

    def __exit__(self, *_: object) -> None:
        if self._handle is not None:
            try:
                self._handle.close()
            except OSError as exc:
                raise self._failed(exc) from None


def _conflict(file: str, line: int) -> dict[str, Any]:
    return {
        "file": file,
        "line": line,
        "field": None,
        "reason": "a record with this node_id and source_id is stored with different "
        "content; a source must not change a record it has sent",
    }


def _reject(entries: list[dict[str, Any]], summary: IngestSummary, rejects: _RejectFile) -> None:
    """Describe rejected records in the rejects file and count them."""
    rejects.write(entries)
    summary.rejected += len(entries)
    summary.rejected_by_field.update(entry["field"] or WHOLE_RECORD for entry in entries)
    summary.incomplete_files.extend(
        (entry["file"], entry["line"], entry["reason"])
        for entry in entries
        if entry.get(UNREAD_REST)
    )


def _store(
    prepared: Prepared,
    append: Callable[[EventBatch], AppendResult],
    summary: IngestSummary,
    rejects: _RejectFile,
) -> int:
    """Store a batch, count what happened, return how many link rows it queued."""
    _reject(prepared.rejects, summary, rejects)
    summary.warnings.update(prepared.warnings)
    events = prepared.events
    if not events:
        return 0
    result = append(events)
    summary.accepted += result.accepted
    summary.duplicates += len(result.duplicates)
    summary.conflicts += len(result.conflicts)
    _reject([_conflict(*prepared.origins[index]) for index in result.conflicts], summary, rejects)
    types = events.types
    if skipped := set(result.duplicates) | set(result.conflicts):
        types = [kind for position, kind in enumerate(types) if position not in skipped]
    summary.accepted_by_type.update(types)
    summary.erased += result.erased.erased
    if result.erased.other_node:
        summary.warnings[OTHER_NODE_ERASURE] += result.erased.other_node
    return result.link_rows
