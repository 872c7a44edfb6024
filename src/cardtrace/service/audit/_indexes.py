"""Checks 6, 8, 9 and 10 of the audit: what the node keeps beside the log, held to it.

The counts of events by node and type that statistics read (6), the id index (8), the
link index that lookups by card, PIN, person, account, device or party use (9), and the
erasures table that applies erasures to events stored after them (10).
See :mod:`cardtrace.service.audit`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cardtrace.crypto.tokens import Tokenizer
from cardtrace.domain.canonical import format_us
from cardtrace.ingest.protect import PartyTokens, erased_target, leaf_links
from cardtrace.service.audit._log import id_text, parsed_leaf
from cardtrace.service.audit._report import Problems
from cardtrace.store import checkpoints as records
from cardtrace.store.erasures import (
    ERASED,
    ErasureRow,
    Located,
    derived_erasure_rows,
    erasure_rows,
    located,
)
from cardtrace.store.rows import Tally

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = ["Erasures", "IdIndex", "LinkIndex", "check_counts"]


class IdIndex:
    """Check 8: the id index against the events' ids.

    Both sides are summed as a multiset hash of (event id, seq), the events' as they
    stream by and the index's read once through the driver: one pass each, where asking
    the database for each index row's event took several times as long (docs/
    performance.md). Only when the sums differ does the database name the events and
    rows concerned; with no edit the sides are equal multisets and nothing more is read.
    """

    def __init__(self) -> None:
        self._count = 0
        self._sum = 0

    def event(self, seq: int, event_id: bytes) -> None:
        self._count += 1
        self._sum += _id_hash(event_id, seq)

    def finish(self, connection: Connection, problems: Problems) -> bool:
        """Check the index; whether it holds what the events make."""
        count = total = 0
        for event_id, seq in records.stream_id_rows(connection):
            count += 1
            total += _id_hash(event_id, seq)
        if (count, total % _HASH_SUM) == (self._count, self._sum % _HASH_SUM):
            return True
        _report_id_index(connection, problems)
        return False


def _id_hash(event_id: bytes, seq: int) -> int:
    return _hash128(b"%d\x00" % seq + event_id)


def _hash128(data: bytes) -> int:
    """The 128-bit BLAKE2b of ``data`` as a number, for the multiset sums."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "big")


def _report_id_index(connection: Connection, problems: Problems) -> None:
    """Name the events the id index misses and its rows that lead nowhere or are held
    twice; the first problems are named, all are counted."""
    gaps = records.id_index_gaps(connection, problems.room("id-index"))
    named = (
        [
            (
                seq,
                f"event seq {seq} (id {id_text(event_id)}) is missing from the id index: a "
                "re-send of it would be stored a second time",
                id_text(event_id),
            )
            for seq, event_id in gaps.first_unindexed
        ]
        + [
            (
                seq,
                f"the id index leads id {id_text(event_id)} to seq {seq}, where no event has "
                "that id: a re-send of that event would be taken as already stored",
                None,
            )
            for seq, event_id in gaps.first_stray
        ]
        + [
            (
                seq,
                f"the id index holds id {id_text(event_id)} (seq {seq}) twice, merged and "
                "queued: the next merge of its queue would fail",
                None,
            )
            for seq, event_id in gaps.first_doubled
        ]
    )
    kept = named[: problems.room("id-index")]
    for seq, message, event_id in kept:
        problems.add("id-index", message, seq=seq, event_id=event_id)
    problems.tally("id-index", gaps.unindexed + gaps.stray + gaps.doubled - len(kept))


class Erasures:
    """Check 10: the log's ``record.erased`` events against what they erase and the
    erasures table.

    An event its own node erased must hold no sealed data. Each erasure of the log must
    have its row in the table, naming its node and target, and, where the target is
    stored, its seq and what the erasure did to it (the rule appends apply: erased, or
    nothing to another node's event); a waiting row is what makes the append that stores
    the target erase it. Rows of events whose leaf is not the log's are left out (check 2
    reports those events). Check 7 asks :attr:`erasing` which nodes erased an event.
    """

    def __init__(self) -> None:
        self._erasures: list[tuple[int, str, bytes]] = []
        self._unchecked: set[int] = set()
        #: The nodes whose erasure of each event id (16 bytes) the log holds.
        self.erasing: dict[bytes, set[str]] = {}

    def event(self, seq: int, node_id: str, leaf: dict[str, Any] | None) -> None:
        if leaf is None:
            self._unchecked.add(seq)
        elif (target := erased_target(leaf)) is not None:
            self._erasures.append((seq, node_id, target))
            self.erasing.setdefault(target, set()).add(node_id)

    def finish(self, connection: Connection, problems: Problems, *, ids_indexed: bool) -> None:
        """``ids_indexed``: whether the id index holds what the events make (check 8).
        If not, the targets are looked up in the event rows themselves, so that a wrong
        index is reported as such (and rebuilt), not as erasures gone wrong."""
        found = located(connection, sorted(self.erasing), by_index=ids_indexed)
        expected = derived_erasure_rows(self._erasures, found)
        self._check_applied(expected, found, problems)
        stored = erasure_rows(connection)
        for seq in sorted((expected.keys() | stored.keys()) - self._unchecked):
            want, have = expected.get(seq), stored.get(seq)
            if want == have:
                continue
            what = f"erasures holds {_erasure(have)} for seq {seq}; the log gives {_erasure(want)}"
            problems.add(
                "erasure-index",
                f"{what}: an erasure waiting in the table is what erases its event when it "
                "comes, and cardtrace stats counts them from it",
                seq=seq,
            )

    @staticmethod
    def _check_applied(
        expected: Mapping[int, ErasureRow], found: Mapping[bytes, Located], problems: Problems
    ) -> None:
        """An event its own node erased must hold no sealed data (once per event)."""
        reported: set[bytes] = set()
        for seq, row in sorted(expected.items()):
            event = found.get(row.target_id)
            if row.outcome != ERASED or event is None or not event.sealed:
                continue
            if row.target_id not in reported:
                reported.add(row.target_id)
                event_id = id_text(row.target_id)
                problems.add(
                    "erasure-not-applied",
                    f"event seq {event.seq} (id {event_id}): its node recorded its erasure "
                    f"(record.erased, seq {seq}) and its sealed personal data is still stored",
                    seq=event.seq,
                    event_id=event_id,
                )


def _erasure(row: ErasureRow | None) -> str:
    """An erasure row in words."""
    if row is None:
        return "no erasure"
    target = id_text(row.target_id)
    if row.outcome is None:
        return f"{row.node_id}'s erasure of {target}, waiting for it"
    return f"{row.node_id}'s erasure of {target} (seq {row.target_seq}), {row.outcome}"


def check_counts(
    counted: Mapping[tuple[str, str], Tally],
    stored: Mapping[tuple[str, str], Tally],
    problems: Problems,
) -> None:
    """``event_counts`` must hold what counting the event rows gives, and their span."""
    for node, kind in sorted(counted.keys() | stored.keys()):
        rows, kept = counted.get((node, kind)), stored.get((node, kind))
        if rows is None or kept is None or rows.events != kept.events:
            problems.add(
                "count-changed",
                f"event_counts says {kept.events if kept else 0:,} events of type {kind} "
                f"from node {node}; the event rows hold {rows.events if rows else 0:,}",
            )
        elif (rows.first_us, rows.last_us) != (kept.first_us, kept.last_us):
            problems.add(
                "count-changed",
                f"event_counts says the events of type {kind} from node {node} occurred "
                f"from {format_us(kept.first_us)} to {format_us(kept.last_us)}; the event "
                f"rows span {format_us(rows.first_us)} to {format_us(rows.last_us)}",
            )


class LinkIndex:
    """Check 9: the link rows against the links the events' leaves make.

    Each side is a multiset hash per range of events: the number of its rows and the sum
    of a 128-bit BLAKE2b of each (token, seq, field), modulo 2**128, which an edit,
    insertion or removal of any row changes. Rows of events whose leaf is not the log's
    (reported by check 2) or names no known type are left out of both sides.

    The first ranges that differ (``_NARROWED``) are then read again, event by event, to
    name each event whose rows differ and the fields of the rows it lacks or holds beyond
    its leaf's; any later ones are reported as ranges.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._party_token = PartyTokens(tokenizer)
        self._expected: Counter[int] = Counter()
        self._expected_sums: Counter[int] = Counter()
        self._unchecked: set[int] = set()

    def event(self, seq: int, leaf: dict[str, Any] | None) -> None:
        made = self._made(leaf)
        if made is None:
            self._unchecked.add(seq)
            return
        bucket = seq // _LINK_RANGE
        self._expected[bucket] += len(made)
        self._expected_sums[bucket] += _rows_hash(seq, made)

    def finish(self, connection: Connection, log_size: int, problems: Problems) -> None:
        """Compare the stored rows with the leaves' (``event`` has seen every leaf)."""
        stored: Counter[int] = Counter()
        stored_sums: Counter[int] = Counter()
        unchecked = self._unchecked
        for token, seq, name in records.stream_link_rows(connection):
            if seq not in unchecked:
                bucket = seq // _LINK_RANGE
                stored[bucket] += 1
                stored_sums[bucket] += _link_hash(token, b"%d\x00" % seq, name)
        differing = [
            bucket
            for bucket in sorted(self._expected.keys() | stored.keys())
            if (stored[bucket], stored_sums[bucket] % _HASH_SUM)
            != (self._expected[bucket], self._expected_sums[bucket] % _HASH_SUM)
        ]
        if differing:
            self._narrow(connection, differing[:_NARROWED], problems)
        for bucket in differing[_NARROWED:]:
            first = bucket * _LINK_RANGE
            last = first + _LINK_RANGE - 1
            if first < log_size:
                last = min(last, log_size - 1)
            held, expected = stored[bucket], self._expected[bucket]
            which = f"{held:,} rows" + (", as many but not the same," if held == expected else "")
            problems.add(
                "link-index",
                f"events seq {first} to {last}: the link index holds {which} where their "
                f"leaves make {expected:,}; a lookup by card, PIN, person, account, device "
                f"or party may miss one of these events, or find one it does not concern "
                f"(only the first {_NARROWED} ranges that differ are narrowed down to events)",
                seq=first,
            )

    def _made(self, leaf: dict[str, Any] | None) -> list[tuple[bytes, str]] | None:
        """The link rows ``leaf`` makes; None for a leaf that names no known type or holds
        tokens that are not hex text."""
        if leaf is None:
            return None
        try:
            return leaf_links(leaf, self._party_token)
        except (AttributeError, TypeError, ValueError):
            return None

    def _narrow(self, connection: Connection, buckets: Sequence[int], problems: Problems) -> None:
        """Report each event of ``buckets`` whose rows differ from its leaf's, in seq order.

        Three more reads, only when the index is wrong: the rows of these ranges summed
        per event, the ranges' leaves, and the rows of the events whose details are kept.
        """
        wanted, unchecked = set(buckets), self._unchecked
        held: dict[int, list[int]] = {}  # seq -> [rows, sum of their hashes]
        for token, seq, name in records.stream_link_rows(connection):
            if seq // _LINK_RANGE in wanted and seq not in unchecked:
                entry = held.setdefault(seq, [0, 0])
                entry[0] += 1
                entry[1] += _link_hash(token, b"%d\x00" % seq, name)
        differing: dict[int, str | None] = {}  # seq -> its event's id, if there is one
        for bucket in buckets:
            first = bucket * _LINK_RANGE
            for row in records.stream_event_leaves(
                connection, first=first, last=first + _LINK_RANGE - 1
            ):
                made = None if row.seq in unchecked else self._made(parsed_leaf(row.leaf))
                if made is None:
                    continue
                rows, total = held.pop(row.seq, (0, 0))
                if rows != len(made) or (total - _rows_hash(row.seq, made)) % _HASH_SUM:
                    differing[row.seq] = id_text(row.event_id)
        differing.update(dict.fromkeys(held))  # rows of a seq where no event is stored
        ordered = sorted(differing)
        shown = ordered[: problems.room("link-index")]
        rows_of = _link_rows_at(connection, set(shown))
        for seq in shown:
            event_id = differing[seq]
            makes = Counter(self._leaf_links_at(connection, seq) if event_id else ())
            message = _link_problem(seq, event_id, makes, rows_of.get(seq, Counter()))
            problems.add("link-index", message, seq=seq, event_id=event_id)
        problems.tally("link-index", len(ordered) - len(shown))

    def _leaf_links_at(self, connection: Connection, seq: int) -> list[tuple[bytes, str]]:
        (row,) = records.stream_event_leaves(connection, first=seq, last=seq)
        return self._made(parsed_leaf(row.leaf)) or []


#: Events per range the link check sums and reports on.
_LINK_RANGE = 1 << 16
#: The modulus of the multiset hashes of the id and link checks.
_HASH_SUM = 1 << 128
#: Ranges of differing link rows the link check narrows down to events.
_NARROWED = 4


def _link_hash(token: bytes, seq_mark: bytes, name: str) -> int:
    """A link row's 128-bit hash; ``seq_mark`` is its seq as decimal digits and a NUL.

    The token's length goes before it, so no two rows are hashed from the same bytes
    (with a separator alone, a NUL in an edited field would let one row pass for another).
    """
    return _hash128(seq_mark + b"%d\x00" % len(token) + token + name.encode())


def _link_rows_at(connection: Connection, seqs: set[int]) -> dict[int, Counter[tuple[bytes, str]]]:
    """The link rows (token, field) stored at each of ``seqs``."""
    rows: dict[int, Counter[tuple[bytes, str]]] = {}
    if seqs:
        for token, seq, name in records.stream_link_rows(connection):
            if seq in seqs:
                rows.setdefault(seq, Counter())[token, name] += 1
    return rows


def _rows_hash(seq: int, made: Iterable[tuple[bytes, str]]) -> int:
    mark = b"%d\x00" % seq
    return sum(_link_hash(token, mark, name) for token, name in made)


def _link_problem(
    seq: int,
    event_id: str | None,
    made: Counter[tuple[bytes, str]],
    stored: Counter[tuple[bytes, str]],
) -> str:
    """What the link rows of one event lack and hold beyond what its leaf makes."""
    if event_id is None:
        rows, them = _rows(stored)
        return (
            f"seq {seq}, where no event is stored: the link index holds {rows}, so a lookup "
            f"by {them} finds an event that is not there"
        )
    said = []
    if missing := made - stored:
        rows, them = _rows(missing)
        said.append(f"lacks {rows} its leaf makes, so a lookup by {them} misses the event")
    if extra := stored - made:
        rows, them = _rows(extra)
        said.append(
            f"holds {rows} its leaf does not make, so a lookup by {them} finds the event "
            "where it does not belong"
        )
    return f"event seq {seq} (id {event_id}): the link index " + "; and it ".join(said)


def _rows(rows: Counter[tuple[bytes, str]]) -> tuple[str, str]:
    """``rows`` counted by field ("1 row (card)", "3 rows (card, merchant_id ×2)"), and
    the pronoun for them."""
    fields: Counter[str] = Counter()
    for (_, name), count in rows.items():
        fields[name] += count
    named = ", ".join(
        name if count == 1 else f"{name} ×{count}" for name, count in sorted(fields.items())
    )
    total = fields.total()
    return (f"1 row ({named})", "it") if total == 1 else (f"{total} rows ({named})", "them")
