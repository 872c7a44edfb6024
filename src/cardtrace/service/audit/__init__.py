"""``cardtrace verify``: audit a node's events, tiles and checkpoints against each other.

Three views of one log must agree: the event rows (their canonical bytes), the hash tiles
and state, and the signed checkpoints. The audit reads them in one consistent snapshot:

1. every checkpoint's signature, and that its note says what its row says;
2. the events in log order, page by page (constant memory): each row's bytes must hash to
   the tiles' leaf at its ``seq``, its columns must agree with its bytes, and no ``seq``
   may be missing or lie beyond the log. A mismatch is attributed with the latest valid
   checkpoint covering it: whichever of the two hashes that checkpoint proves (by an
   inclusion proof from the tiles) is the original, so the other side was changed;
3. the tree is rebuilt twice as the rows stream by: from the events' own hashes, giving
   the root at every checkpoint's size; and from the stored leaves, through the same
   tile code the node writes with, comparing every upper tile and the state it produces
   with the stored ones;
4. every checkpoint's root must equal both the events' root and the stored tiles' root
   at its size, two checkpoints of one size must have one root (else a fork), and each
   checkpoint must be consistent with the next larger one (RFC 6962 consistency proof);
5. the stored cosignatures of trusted witnesses must verify over their checkpoints.
6. the counts of events per node and type kept for statistics, and the span of their
   times, must equal the rows';
7. each event's sealed personal data must open under the node's key and its own id (a
   blob moved from another event does not), each opening must match its commitment in
   the leaf, and the keyed digest of the record as sent (``content``) must be the one
   the leaf and the openings give, so a changed digest cannot hide a changed record;
   and no clear field of the leaf may hold one of the opened personal values (a record
   stored before ingest refused such records). An event may hold no sealed data only
   where the log holds its node's erasure of it (``record.erased``, from check 10);
8. the id index must lead to every event and only to events (a re-send of an event it
   misses would be stored twice): both sides are summed as a multiset hash of (id, seq),
   and only when they differ is each event it misses and each row astray named;
9. the link index (merged and queued) must hold exactly the links each event's leaf
   makes, no more, no fewer: a missing row hides an event from a lookup by card, PIN,
   person, account, device or party, an extra one ties an event to one it does not
   concern. Both sides are summed as a multiset hash per range of 65,536 events, so the
   check reads each side once, in constant memory; the first ranges that differ are read
   again to name each event whose rows differ and the fields of the rows concerned;
10. an event its own node erased must hold no sealed data, and the erasures table must
    hold a row for each erasure of the log and no other, with the outcome the rule of
    appends gives for the events stored now (a waiting row is what erases its event
    when it comes). The erased events are found through the id index, or, when check 8
    finds it wrong, in the event rows themselves: a wrong index is reported as that,
    not as an erasure gone wrong.

Each problem names the event (``seq`` and id), tile or checkpoint it concerns. Checks 1
to 5 live in ``_log``, 7 in ``_openings``, 6, 8, 9 and 10 in ``_indexes``; ``_report`` holds
what an audit reports, and :func:`verify_node` runs them all in one pass over the events.
"""

from __future__ import annotations

from collections.abc import Callable

from cardtrace.crypto.tokens import Tokenizer
from cardtrace.crypto.vault import Vault
from cardtrace.service.audit._indexes import Erasures, IdIndex, LinkIndex, check_counts
from cardtrace.service.audit._log import (
    Replay,
    check_checkpoint_rows,
    check_checkpoints,
    check_cosignatures,
)
from cardtrace.service.audit._openings import Openings
from cardtrace.service.audit._report import AuditReport, Problem, Problems
from cardtrace.service.ledger import checkpoint_verifier, trusted_witnesses
from cardtrace.service.node import Node
from cardtrace.store import checkpoints as records
from cardtrace.store.database import stored_tallies
from cardtrace.store.ledger_sql import SqlTileStore

__all__ = ["AuditProgress", "AuditReport", "Problem", "verify_node"]


#: What an audit reports of its progress: the step, how far it is, and how far it goes
#: (None: not known beforehand).
AuditProgress = Callable[[str, int, int | None], None]


def verify_node(node: Node, progress: AuditProgress | None = None) -> AuditReport:
    """Audit the whole node; the report lists every problem found (none: clean).
    ``progress`` hears of each step, and of the events read every few thousand."""
    tell = progress or _silent
    database = node.database  # before the keys: no database, no key looked for
    keys = node.reading_keys(database)  # makes no key: an audit changes nothing
    tokenizer = Tokenizer(keys.link_key)
    openings = Openings(tokenizer, Vault(keys.vault_key))
    problems = Problems()
    with records.snapshot(database) as connection:
        store = SqlTileStore(connection)
        stored_state = store.read_state()
        log_size = stored_state[0] if stored_state else 0
        stored = records.all_checkpoints(connection)
        signed = (
            check_checkpoint_rows(
                stored, checkpoint_verifier(node), node.settings.log_origin, problems
            )
            if stored
            else []
        )
        replay = Replay(store, log_size, signed, problems)
        link_index, id_index, erasures = LinkIndex(tokenizer), IdIndex(), Erasures()
        for row in records.stream_event_leaves(connection):
            if not replay.rows % _TOLD_EVERY:
                tell("events", replay.rows, log_size)
            leaf = replay.event(row)
            if leaf is not None:
                openings.check(row, leaf, problems)
            link_index.event(row.seq, leaf)
            id_index.event(row.seq, row.event_id)
            erasures.event(row.seq, row.node_id, leaf)
        tell("events", replay.rows, log_size)
        replay.finish()
        tell("counts and id index", 0, None)
        check_counts(replay.counted.by_key(), stored_tallies(connection), problems)
        ids_indexed = id_index.finish(connection, problems)
        tell("erasures", 0, None)
        erasures.finish(connection, problems, ids_indexed=ids_indexed)
        openings.finish(erasures.erasing, problems)
        tell("link index", 0, None)
        link_index.finish(connection, log_size, problems)
        tell("checkpoints", 0, None)
        check_checkpoints(store, signed, replay.roots, log_size, problems)
        lines = records.cosignatures_of(connection, [item.id for item in signed])
    check_cosignatures(signed, lines, trusted_witnesses(node), problems)
    return AuditReport(
        replay.rows, log_size, len(stored), tuple(problems.kept), dict(problems.counts)
    )


#: Events read between two reports of progress.
_TOLD_EVERY = 8192


def _silent(step: str, done: int, total: int | None) -> None:
    """No one listens."""
