"""The ingest pipeline: read -> validate -> protect -> store, in batches, losing nothing.

A bad record never stops the run and is never half-written: it goes to the reject file
(one JSON object per line: file, line, field, reason, never the input itself) and the
run goes on. Good records are stored in batches, one transaction each, so a run killed
at any point and started again stores every event exactly once (the event id is the
idempotency key).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any

import orjson
from pydantic import ValidationError

from cardtrace.domain.events import Envelope, event_adapter
from cardtrace.ingest.protect import Protector
from cardtrace.ingest.readers import Record, read_records
from cardtrace.store.database import Database, EventRow

__all__ = ["CLOCK_SKEW", "IngestSummary", "Rejected", "ingest_files", "validate"]

#: How far in the future an event time may lie (clocks of recording nodes drift).
CLOCK_SKEW = timedelta(minutes=5)


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
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    accepted_by_type: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "warnings": dict(self.warnings.most_common()),
            "accepted_by_type": dict(sorted(self.accepted_by_type.items())),
        }


def validate(data: bytes | dict[str, Any], now: datetime) -> Envelope:
    """The event in ``data`` (JSON bytes or a dict), or :class:`Rejected` saying why not."""
    adapter = event_adapter()
    try:
        if isinstance(data, bytes):
            event: Envelope = adapter.validate_json(data)
        else:
            event = adapter.validate_python(data)
    except ValidationError as exc:
        rejected = _rejection(exc)
        if rejected.reason.startswith("malformed JSON") and not _is_utf8(data):
            rejected = Rejected(None, "line is not valid UTF-8")
        raise rejected from None
    latest = now + CLOCK_SKEW
    for name in ("occurred_at", "recorded_at"):
        if getattr(event, name) > latest:
            raise Rejected(name, "time is in the future")
    return event


def _is_utf8(data: bytes | dict[str, Any]) -> bool:
    if isinstance(data, bytes):
        try:
            data.decode()
        except UnicodeDecodeError:
            return False
    return True


def _rejection(exc: ValidationError) -> Rejected:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    kind = first["type"]
    if kind == "union_tag_not_found":
        return Rejected("type", "missing event type", len(errors) - 1)
    if kind == "union_tag_invalid":
        return Rejected("type", "unknown event type", len(errors) - 1)
    if kind == "json_invalid":
        return Rejected(None, f"malformed JSON: {first['msg'].removeprefix('Invalid JSON: ')}")
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return Rejected(None, "record is not a JSON object")
    # The first element of the location is the event type (the union's tag): drop it.
    path = [str(part) for part in first["loc"][1:]]
    reason = first["msg"].removeprefix("Value error, ")
    return Rejected(".".join(path) or None, reason, len(errors) - 1)


class _RejectFile:
    """The reject file, opened on the first reject so a clean run leaves none behind."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._handle: IO[bytes] | None = None

    def write(self, file: Path, line: int, field: str | None, reason: str, more: int) -> None:
        if self.path is None:
            return
        if self._handle is None:
            self._handle = self.path.open("wb")
        entry: dict[str, Any] = {"file": str(file), "line": line, "field": field, "reason": reason}
        if more:
            entry["more_problems"] = more
        self._handle.write(orjson.dumps(entry) + b"\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def ingest_files(
    files: Iterable[Path],
    database: Database,
    protector: Protector,
    *,
    rejects: Path | None,
    batch_size: int,
    progress: Callable[[Path, int], None] | None = None,
) -> IngestSummary:
    """Ingest ``files`` into ``database``; see the module docstring for the guarantees."""
    run = _Run(protector, _RejectFile(rejects))
    batch: list[EventRow] = []
    try:
        for path in files:
            run.summary.files += 1
            advance = partial(progress, path) if progress else None
            for record in read_records(path, advance):
                row = run.prepare(record, path)
                if row is not None:
                    batch.append(row)
                if len(batch) >= batch_size:
                    run.store(batch, database)
        run.store(batch, database)
    finally:
        run.rejects.close()
    return run.summary


class _Run:
    """The state of one ingest run: its clock, counts and reject file."""

    def __init__(self, protector: Protector, rejects: _RejectFile) -> None:
        self.protector = protector
        self.rejects = rejects
        self.summary = IngestSummary()
        self.now = datetime.now(UTC)

    def prepare(self, record: Record, path: Path) -> EventRow | None:
        """The protected row of a good record; a bad one is counted and described."""
        try:
            if record.data is None:
                raise Rejected(record.field, record.problem or "unreadable record")
            event = validate(record.data, self.now)
        except Rejected as rejected:
            self.summary.rejected += 1
            self.rejects.write(path, record.line, rejected.field, rejected.reason, rejected.more)
            return None
        for name, message in event.warnings():
            self.summary.warnings[f"{name}: {message}"] += 1
        return self.protector.protect(event)

    def store(self, batch: list[EventRow], database: Database) -> None:
        """Store and empty ``batch`` (one transaction)."""
        if not batch:
            return
        result = database.append(batch)
        self.summary.accepted += result.accepted
        self.summary.duplicates += len(result.duplicates)
        duplicate = set(result.duplicates)
        self.summary.accepted_by_type.update(
            row.type for index, row in enumerate(batch) if index not in duplicate
        )
        batch.clear()
