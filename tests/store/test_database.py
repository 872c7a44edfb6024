"""The store contract, run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, inspect, text

from cardtrace.errors import ConfigurationError
from cardtrace.ledger import merkle, tiles
from cardtrace.store import erasures, migrate
from cardtrace.store.database import Database
from cardtrace.store.engine import open_engine
from cardtrace.store.ledger_sql import SqlTileStore
from cardtrace.store.rows import EventBatch, EventRow, Tally
from cardtrace.store.schema import metadata


def row(n: int, *tokens: bytes) -> EventRow:
    return EventRow(
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, str(n)).bytes,
        node_id="node-a",
        type="card.sold",
        occurred_us=1_700_000_000_000_000 - n,
        leaf=b'{"n":%d}' % n,
        protected=None if n % 2 else b"sealed",
        links=tuple((token, "card") for token in tokens),
    )


def fails_after_appending(database: Database, good: EventBatch) -> None:
    """One transaction appends ``good``, then a batch the database refuses: all undone."""
    broken = row(99)._replace(node_id=None)  # type: ignore[arg-type] # NOT NULL

    def good_then_broken() -> None:
        with database.appending() as append:
            append(good)
            append(EventBatch.of([broken]))

    with pytest.raises(Exception):  # noqa: B017, PT011 - any database error will do
        good_then_broken()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = Database.open(database_url)
    yield opened
    opened.close()


def test_migrations_produce_exactly_the_declared_schema(database: Database) -> None:
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_opening_twice_migrates_once(database_url: str) -> None:
    Database.open(database_url).close()
    again = Database.open(database_url)
    assert again.count() == 0
    again.close()


def test_opening_an_up_to_date_database_does_not_wait_for_a_writer(database: Database) -> None:
    database.append(EventBatch.of([row(1)]))
    counted: list[int] = []

    def open_and_count() -> None:
        reader = Database.open(database.engine.url.render_as_string(hide_password=False))
        try:
            counted.append(reader.count())
        finally:
            reader.close()

    with database.appending() as append:  # holds the writer lock until the block ends
        append(EventBatch.of([row(2)]))
        opening = threading.Thread(target=open_and_count, daemon=True)
        opening.start()
        opening.join(timeout=20)
        assert not opening.is_alive(), "opening the database waited for the writer"
    assert counted == [1]  # the writer's transaction was not committed yet


def test_opening_without_upgrade_leaves_an_older_schema_as_it_is(database_url: str) -> None:
    engine = open_engine(database_url)
    migrate.upgrade(engine, "0003")
    engine.dispose()
    old = Database.open(database_url, upgrade=False)
    try:
        current, head = old.schema_revisions()
        assert current == "0003"
        assert head > current
        old.upgrade()
        assert old.schema_revisions() == (head, head)
    finally:
        old.close()


def test_a_database_holding_other_tables_gets_none_of_ours(database_url: str) -> None:
    engine = open_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE customers (id INTEGER)"))
    engine.dispose()
    with pytest.raises(ConfigurationError, match=r"not a cardtrace database: .* \(customers\)"):
        Database.open(database_url)
    engine = open_engine(database_url)
    try:
        assert inspect(engine).get_table_names() == ["customers"]
    finally:
        engine.dispose()


def test_a_schema_newer_than_the_code_is_refused_not_migrated(database_url: str) -> None:
    Database.open(database_url).close()
    engine = open_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(ConfigurationError, match="revision 9999, which this cardtrace"):
        Database.open(database_url)
    unchanged = Database.open(database_url, upgrade=False)
    try:
        with pytest.raises(ConfigurationError, match="revision 9999, which this cardtrace"):
            unchanged.schema_revisions()
    finally:
        unchanged.close()


def test_migration_0004_moves_stored_ids_into_the_id_index(database_url: str) -> None:
    engine = open_engine(database_url)
    migrate.upgrade(engine, "0003")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO events (seq, event_id, node_id, type, occurred_us, leaf) "
                "VALUES (0, :id, 'node-a', 'card.sold', 1, :leaf)"
            ),
            {"id": row(1).event_id, "leaf": row(1).leaf},
        )
    engine.dispose()
    upgraded = Database.open(database_url)
    assert upgraded.event(row(1).event_id).seq == 0
    assert upgraded.append(EventBatch.of([row(1)])).duplicates == (0,)
    upgraded.close()


def test_append_stores_rows_at_their_log_indexes(database: Database) -> None:
    first = database.append(EventBatch.of([row(1), row(2)]))
    second = database.append(EventBatch.of([row(3)]))
    assert (first.first_seq, first.accepted, second.first_seq) == (0, 2, 2)
    assert database.count() == 3
    with database.engine.connect() as connection:
        store = SqlTileStore(connection)
        expected = merkle.root_hash([merkle.leaf_hash(row(n).leaf) for n in (1, 2, 3)])
        assert tiles.root(store) == expected


def test_append_is_idempotent_within_and_across_batches(database: Database) -> None:
    database.append(EventBatch.of([row(1), row(2)]))
    result = database.append(EventBatch.of([row(2), row(3), row(3), row(1)]))
    assert result.accepted == 1
    assert result.duplicates == (0, 2, 3)
    assert database.count() == 3


def test_a_stored_id_after_new_ones_leaves_the_new_ones_stored_once(database: Database) -> None:
    database.append(EventBatch.of([row(1, b"a" * 16)]))
    result = database.append(EventBatch.of([row(2, b"b" * 16), row(3, b"c" * 16), row(1, b"d")]))
    assert (result.accepted, result.duplicates, result.first_seq) == (2, (2,), 1)
    assert result.link_rows == 2  # the re-sent event's link is not queued again
    assert database.count() == 3
    assert database.link_count() == 3
    assert [event.seq for event in database.events_by_token(b"c" * 16)] == [2]
    assert database.log_size() == 3


def test_a_dry_append_answers_as_appends_would_and_stores_nothing(database: Database) -> None:
    def content(n: int, changed: bool = False) -> bytes:
        return b"%d%s" % (n, b"!" * changed)

    def batch(numbers: range, changed: int = -1) -> EventBatch:
        return EventBatch.of([row(n)._replace(content=content(n, n == changed)) for n in numbers])

    database.append(batch(range(1500)))
    # Batches larger than one look-up of ids; repeats of stored ids, of the run's own ids
    # from an earlier batch, and one changed record of each kind.
    batches = [batch(range(1000, 3000), changed=1200), batch(range(2000, 4000), changed=2500)]
    with database.would_append() as dry_run:
        dry = [dry_run.append(b) for b in batches]
    assert (database.count(), database.log_size()) == (1500, 1500)
    done = [database.append(b) for b in batches]
    for would, did in zip(dry, done, strict=True):
        fields = ("accepted", "duplicates", "conflicts", "first_seq")
        assert [getattr(would, f) for f in fields] == [getattr(did, f) for f in fields]
    assert [(r.accepted, len(r.duplicates), r.conflicts) for r in dry] == [
        (1500, 499, (200,)),
        (1000, 999, (500,)),
    ]


def test_ids_are_found_before_and_after_they_are_merged(database: Database) -> None:
    database.append(EventBatch.of([row(1), row(2)]))
    assert database.event(row(1).event_id).seq == 0
    assert database.integrate_ids() == 2
    assert database.integrate_ids() == 0
    database.append(EventBatch.of([row(3)]))  # queued, while 1 and 2 are merged
    for n, seq in ((1, 0), (2, 1), (3, 2)):
        assert database.event(row(n).event_id).seq == seq
    result = database.append(EventBatch.of([row(4), row(1), row(3)]))
    assert (result.accepted, result.duplicates, result.first_seq) == (1, (1, 2), 3)
    assert database.count() == 4


def test_a_changed_record_is_a_conflict_whether_its_id_is_merged_or_queued(
    database: Database,
) -> None:
    sent = [row(n)._replace(content=bytes([n]) * 16) for n in (1, 2)]
    database.append(EventBatch.of([sent[0]]))
    database.integrate_ids()
    database.append(EventBatch.of([sent[1]]))
    changed = [event._replace(content=b"x" * 16) for event in sent]
    result = database.append(EventBatch.of([*changed, *sent]))
    assert (result.accepted, result.conflicts, result.duplicates) == (0, (0, 1), (2, 3))


def test_events_by_token_returns_linked_events_in_time_order(database: Database) -> None:
    token, other = b"t" * 16, b"o" * 16
    database.append(EventBatch.of([row(1, token), row(2, other), row(3, token, other)]))
    found = database.events_by_token(token)
    assert [event.leaf for event in found] == [row(3).leaf, row(1).leaf]
    assert {event.field for event in found} == {"card"}


def test_event_lookup_by_id(database: Database) -> None:
    database.append(EventBatch.of([row(5)]))
    assert database.event(row(5).event_id).leaf == row(5).leaf


def test_counts(database: Database) -> None:
    database.append(EventBatch.of([row(1, b"a" * 16), row(2, b"a" * 16, b"b" * 16)]))
    early, late = row(2).occurred_us, row(1).occurred_us
    assert database.tallies() == {("node-a", "card.sold"): Tally(2, early, late)}
    assert database.link_count() == 3


def true_tallies(database: Database) -> dict[tuple[str, str], Tally]:
    query = (
        "SELECT node_id, type, count(*), min(occurred_us), max(occurred_us) "
        "FROM events GROUP BY node_id, type"
    )
    with database.engine.connect() as connection:
        return {
            (node, kind): Tally(*figures)
            for node, kind, *figures in connection.exec_driver_sql(query)
        }


def test_kept_counts_follow_the_stored_events_through_duplicates_and_failures(
    database: Database,
) -> None:
    other = [row(n)._replace(node_id="node-b", type="card.redeemed") for n in (10, 11)]
    with database.appending() as append:
        append(EventBatch.of([row(1), row(2), other[0]]))
        append(EventBatch.of([row(2), row(3), other[1], other[0]]))  # two re-sent
    fails_after_appending(database, EventBatch.of([row(0), row(4)]))  # earliest and latest
    database.append(EventBatch.of([row(1), row(6)]))  # one re-sent, one new: the earliest
    tallies = database.tallies()
    assert tallies == true_tallies(database)
    assert tallies[("node-a", "card.sold")] == Tally(4, row(6).occurred_us, row(1).occurred_us)
    assert tallies[("node-b", "card.redeemed")].events == 2


def test_a_later_transaction_widens_the_span_of_times_on_both_ends(database: Database) -> None:
    database.append(EventBatch.of([row(5)]))
    database.append(EventBatch.of([row(3), row(7)]))  # 3 occurred last, 7 first
    database.append(EventBatch.of([row(4)]))  # inside the span: it stays
    assert database.tallies() == {
        ("node-a", "card.sold"): Tally(4, row(7).occurred_us, row(3).occurred_us)
    }


def _insert_raw(engine: Engine, nodes: Sequence[str]) -> None:
    with engine.begin() as connection:
        for seq, node in enumerate(nodes):
            connection.execute(
                text(
                    "INSERT INTO events (seq, event_id, node_id, type, occurred_us, leaf) "
                    "VALUES (:seq, :id, :node, 'card.sold', :at, :leaf)"
                ),
                {
                    "seq": seq,
                    "id": row(seq).event_id,
                    "node": node,
                    "at": 1000 + seq,
                    "leaf": row(seq).leaf,
                },
            )


def test_migrations_0005_and_0006_count_the_events_stored_before_them(
    database_url: str,
) -> None:
    engine = open_engine(database_url)
    migrate.upgrade(engine, "0004")
    _insert_raw(engine, ("node-a", "node-b", "node-a"))
    engine.dispose()
    upgraded = Database.open(database_url)
    assert upgraded.tallies() == {
        ("node-a", "card.sold"): Tally(2, 1000, 1002),
        ("node-b", "card.sold"): Tally(1, 1001, 1001),
    }
    upgraded.close()


def erasure(n: int, target: EventRow, node: str = "node-a") -> EventRow:
    """Event ``n``: ``node``'s erasure of ``target``, as ingest makes it."""
    named = str(uuid.UUID(bytes=target.event_id))
    return row(n)._replace(
        node_id=node,
        type="record.erased",
        leaf=b'{"n":%d,"target_event_id":"%s"}' % (n, named.encode()),
        protected=None,
        erases=target.event_id,
    )


def sealed(database: Database) -> dict[int, bool]:
    """Whether each stored event holds sealed data, by seq."""
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT seq, protected FROM events ORDER BY seq"))
        return {seq: protected is not None for seq, protected in rows}


def test_an_erasure_deletes_the_sealed_data_of_its_nodes_event_only(database: Database) -> None:
    result = database.append(
        EventBatch.of([row(0), row(2), erasure(3, row(0)), erasure(5, row(2), node="node-b")])
    )
    assert (result.erased.erased, result.erased.other_node) == (1, 1)
    assert sealed(database) == {0: False, 1: True, 2: False, 3: False}
    assert database.erasure_counts()["waiting"] == 0


def test_an_erasure_waits_for_its_event_across_transactions(database: Database) -> None:
    assert database.append(EventBatch.of([erasure(3, row(0))])).erased.erased == 0
    assert database.erasure_counts()["waiting"] == 1
    assert database.append(EventBatch.of([row(2), row(0)])).erased.erased == 1
    assert sealed(database) == {0: False, 1: True, 2: False}
    assert database.erasure_counts()["waiting"] == 0


def test_a_dry_append_counts_the_erasures_appends_would_apply(database: Database) -> None:
    # Stored before the run: an event, and two erasures waiting for theirs, one by
    # another node than the event's.
    database.append(EventBatch.of([row(0), erasure(11, row(20)), erasure(13, row(22), "node-b")]))
    batches = [
        # A waiting erasure's event; erasures of a stored event, of an event later in the
        # batch, and one of an event still to come, by another node.
        EventBatch.of(
            [
                row(20),
                erasure(15, row(0)),
                erasure(17, row(24)),
                row(24),
                erasure(19, row(26), "node-b"),
            ]
        ),
        # The events of both of another node's erasures; an erasure sent again; an
        # erasure whose event never comes.
        EventBatch.of([row(26), row(22), erasure(15, row(0)), erasure(21, row(28))]),
    ]
    with database.would_append() as dry_run:
        dry = [dry_run.append(batch).erased for batch in batches]
        waiting = dry_run.erasures_waiting
    assert sealed(database) == {0: True, 1: False, 2: False}
    assert database.erasure_counts()["waiting"] == 2
    done = [database.append(batch).erased for batch in batches]
    assert dry == done == [erasures.Erased(erased=3), erasures.Erased(other_node=2)]
    assert waiting == database.erasure_counts()["waiting"] == 1


def test_events_are_located_among_more_ids_than_one_lookup_query_takes(database: Database) -> None:
    database.append(EventBatch.of([row(0), row(1)]))
    database.integrate_ids()
    database.append(EventBatch.of([row(2)]))  # one merged id, one queued
    others = [uuid.uuid5(uuid.NAMESPACE_DNS, str(n)).bytes for n in range(20_000)]
    with database.engine.connect() as connection:
        found = erasures.located(connection, [*others, row(1).event_id, row(2).event_id])
    assert found == {
        row(1).event_id: erasures.Located(1, "node-a", False),
        row(2).event_id: erasures.Located(2, "node-a", True),
    }


def test_migration_0007_applies_the_erasures_stored_before_it(database_url: str) -> None:
    database = Database.open(database_url)
    database.append(EventBatch.of([row(0), erasure(3, row(0)), erasure(5, row(4))]))
    database.close()
    engine = open_engine(database_url)
    migrate.downgrade(engine, "0006")
    with engine.begin() as connection:  # as revision 0006 stored them: erasing nothing
        connection.execute(text("UPDATE events SET protected = :p WHERE seq = 0"), {"p": b"s"})
    engine.dispose()
    upgraded = Database.open(database_url)
    try:
        assert sealed(upgraded) == {0: False, 1: False, 2: False}
        assert upgraded.erasure_counts()["waiting"] == 1  # row(4) is not stored
        assert upgraded.append(EventBatch.of([row(4)])).erased.erased == 1
    finally:
        upgraded.close()


def _schema(engine: Engine) -> dict[str, object]:
    """Every table's columns, keys and indexes, as the database reports them."""
    found = inspect(engine)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(table)],
            found.get_pk_constraint(table)["constrained_columns"],
            sorted(
                (i["name"], tuple(i["column_names"]), i["unique"]) for i in found.get_indexes(table)
            ),
            sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
            sorted(tuple(f["constrained_columns"]) for f in found.get_foreign_keys(table)),
        )
        for table in sorted(found.get_table_names())
    }


def test_each_downgrade_gives_back_the_schema_its_revision_made_and_keeps_the_events(
    database_url: str,
) -> None:
    engine = open_engine(database_url)
    made = {}
    for revision in migrate.known_revisions():
        migrate.upgrade(engine, revision)
        made[revision] = _schema(engine)
    engine.dispose()
    database = Database.open(database_url)
    database.append(EventBatch.of([row(1, b"t" * 16), row(2)]))
    database.close()
    engine = open_engine(database_url)
    for revision in reversed(migrate.known_revisions()[1:-1]):
        migrate.downgrade(engine, revision)
        assert migrate.revisions(engine)[0] == revision
        assert _schema(engine) == made[revision]
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM events")).scalar() == 2
    engine.dispose()
    again = Database.open(database_url)  # back up to the newest
    try:
        assert again.count() == 2
        assert again.tallies()[("node-a", "card.sold")].events == 2
        assert again.append(EventBatch.of([row(2), row(3)])).duplicates == (0,)
    finally:
        again.close()
    engine = open_engine(database_url)
    migrate.downgrade(engine, migrate.BASE)
    assert _schema(engine) == made[migrate.BASE]
    engine.dispose()


def test_only_some_downgrades_throw_stored_data_away() -> None:
    assert migrate.discards("0007", "0003") == []
    lost = migrate.discards("0006", "0001")
    assert len(lost) == 2
    assert "re-send" in lost[0]
    assert "cosignatures" in lost[1]
    assert "every stored event" in migrate.discards("0006", migrate.BASE)[-1]
    assert migrate.discards(None, migrate.BASE) == []


def test_a_failed_batch_leaves_nothing_behind(database: Database) -> None:
    broken = row(2, b"x" * 16)._replace(node_id=None)  # type: ignore[arg-type] # NOT NULL
    with pytest.raises(Exception):  # noqa: B017, PT011 - any database error will do
        database.append(EventBatch.of([row(1), broken]))
    assert database.count() == 0
    assert database.link_count() == 0
    with database.engine.connect() as connection:
        assert tiles.size(SqlTileStore(connection)) == 0


def test_links_are_found_before_and_after_they_are_merged(database: Database) -> None:
    token = b"t" * 16
    database.append(EventBatch.of([row(1, token)]))
    assert [event.leaf for event in database.events_by_token(token)] == [row(1).leaf]
    assert database.integrate_links() == 1
    database.append(EventBatch.of([row(2, token)]))
    assert {event.leaf for event in database.events_by_token(token)} == {row(1).leaf, row(2).leaf}
    assert database.link_count() == 2
    assert database.integrate_links() == 1
    assert database.integrate_links() == 0
    assert len(database.events_by_token(token)) == 2


def test_a_batch_with_re_sent_events_stores_the_links_of_the_new_ones_only(
    database: Database,
) -> None:
    first, second = b"a" * 16, b"b" * 16
    database.append(EventBatch.of([row(1, first)]))
    result = database.append(EventBatch.of([row(1, first), row(2, second), row(1, first)]))
    assert (result.accepted, result.duplicates, result.first_seq) == (1, (0, 2), 1)
    assert database.link_count() == 2
    [found] = database.events_by_token(second)
    assert (found.seq, found.leaf) == (1, row(2).leaf)
    assert [event.seq for event in database.events_by_token(first)] == [0]


def test_appends_in_one_transaction_are_stored_all_together_or_not_at_all(
    database: Database,
) -> None:
    with database.appending() as append:
        first = append(EventBatch.of([row(1, b"a" * 16)]))
        second = append(EventBatch.of([row(2), row(1, b"a" * 16)]))
    assert (first.first_seq, second.first_seq, second.duplicates) == (0, 1, (1,))
    fails_after_appending(database, EventBatch.of([row(3, b"b" * 16)]))
    assert (database.count(), database.log_size(), database.link_count()) == (2, 2, 1)


# -- any sequence of appends and merges ------------------------------------------------

#: An append of events by number and version (0: as first sent, 1: changed at the source),
#: in one transaction, or a merge of the link queue or the id queue.
OPERATIONS = st.lists(
    st.one_of(
        st.lists(st.tuples(st.integers(0, 11), st.integers(0, 1)), min_size=1, max_size=6),
        st.sampled_from(["merge links", "merge ids"]),
    ),
    min_size=1,
    max_size=8,
)


def sent(n: int, version: int) -> EventRow:
    """Event ``n`` as sent in ``version``, linked to one or two of four tokens."""
    tokens = [bytes([n % 4]) * 16, *([bytes([4 + n % 3]) * 16] if n % 2 else [])]
    return row(n, *tokens)._replace(content=b"%d/%d" % (n, version))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=OPERATIONS)
def test_any_appends_and_merges_store_each_event_once_and_find_it(
    fresh_database_url: Callable[[], str], operations: list[Any]
) -> None:
    """Against a model: each append stores the events it has not seen, skips re-sends
    as duplicates and changed records as conflicts, at the next log indexes; whatever
    was merged or still queued, ids and tokens find exactly the stored events, and the
    log's root is that of their leaves."""
    database = Database.open(fresh_database_url())
    stored: dict[int, tuple[int, int]] = {}  # n -> (seq, version)
    try:
        for operation in operations:
            if operation == "merge links":
                database.integrate_links()
                continue
            if operation == "merge ids":
                database.integrate_ids()
                continue
            first_seq = len(stored)
            duplicates, conflicts = [], []
            for position, (n, version) in enumerate(operation):
                if n not in stored:
                    stored[n] = (len(stored), version)
                elif stored[n][1] == version:
                    duplicates.append(position)
                else:
                    conflicts.append(position)
            result = database.append(EventBatch.of([sent(*item) for item in operation]))
            assert (result.accepted, result.first_seq) == (len(stored) - first_seq, first_seq)
            assert (result.duplicates, result.conflicts) == (tuple(duplicates), tuple(conflicts))
        by_seq = sorted((seq, n) for n, (seq, _) in stored.items())
        assert (database.count(), database.log_size()) == (len(stored), len(stored))
        for n, (seq, _) in stored.items():
            assert database.event(sent(n, 0).event_id).seq == seq
        for token in {token for n in stored for token, _ in sent(n, 0).links}:
            linked = sorted(
                (sent(n, 0).occurred_us, seq)
                for n, (seq, _) in stored.items()
                if token in dict(sent(n, 0).links)
            )
            found = database.events_by_token(token)
            assert [(event.occurred_us, event.seq) for event in found] == linked
        with database.engine.connect() as connection:
            leaves = [merkle.leaf_hash(row(n).leaf) for _, n in by_seq]
            assert tiles.root(SqlTileStore(connection)) == merkle.root_hash(leaves)
    finally:
        database.close()
