"""A node: its settings, keys and database, and the operations on its events."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from cardtrace.crypto.keystore import KeyStore
from cardtrace.crypto.tokens import Tokenizer
from cardtrace.crypto.vault import Vault
from cardtrace.domain.canonical import format_us
from cardtrace.domain.cards import (
    CARD_FORMATS,
    CardFormat,
    card_code,
    issuer_code,
    load_card_formats,
    pin_like_serial,
)
from cardtrace.domain.events import EVENT_MODELS, event_adapter, event_id_text
from cardtrace.errors import ConfigurationError, InvalidInput, NotFound, TamperDetected
from cardtrace.files import check_output, read_small
from cardtrace.ingest.pipeline import REJECTS_FILE, IngestSummary, ingest_files
from cardtrace.ingest.protect import ProtectionKeys, card_token, pin_token
from cardtrace.ingest.readers import UTF8, discover, input_bytes, text_encoding
from cardtrace.settings import Settings, usable_cores
from cardtrace.store import migrate
from cardtrace.store.database import Database
from cardtrace.store.engine import in_memory
from cardtrace.store.rows import Tally

if TYPE_CHECKING:  # the synthetic world (Faker) is imported only when used
    from cardtrace.sim import TruthRecord, WorldSummary

__all__ = ["CardEvent", "CardWalk", "Node", "event_schema", "fraud_card", "simulate"]

#: Inputs larger than this are validated in worker processes (see settings).
_PARALLEL_FROM_BYTES = 32 * 1024 * 1024
#: The most a card formats file may hold (the built-in hints are ~2 KB).
_MAX_CARD_FORMATS_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class CardEvent:
    """One stored event of a card, as its leaf records it (nothing personal in clear)."""

    seq: int
    type: str
    occurred_at: str
    node_id: str
    field: str | None
    leaf: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CardWalk:
    """A card's stored events in time order, and whether its issuer is a known one."""

    issuer: str
    events: list[CardEvent]
    #: False when the issuer has no card-format hint (built in or the node's file): with
    #: no events found, a mistyped issuer code is then the likelier reason.
    issuer_known: bool


class Node:
    """One cardtrace node; use as a context manager or call :meth:`close`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._database: Database | None = None

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @cached_property
    def keys(self) -> KeyStore:
        development = self.settings.environment == "development"
        return KeyStore(self.settings.key_dir, create_missing=development)

    @property
    def database(self) -> Database:
        """The node's database, which must exist already (see :meth:`open_database`)."""
        return self.open_database()

    def open_database(self, *, create: bool = False, upgrade: bool = True) -> Database:
        """The node's database, opened once; ``create`` makes it if it does not exist.

        Only the operations that store (ingest, witness) create it. Everything else
        refuses a missing SQLite file rather than answer from a new empty one, which a
        mistyped path would otherwise give. Opening brings the schema up to date unless
        ``upgrade`` is false.
        """
        if self._database is None:
            url = self.settings.database_url
            if in_memory(url):
                raise ConfigurationError(
                    "an in-memory SQLite database keeps nothing after the command; "
                    "name a file (sqlite:///FILE)"
                )
            self._database = Database.open(url, create=create, upgrade=upgrade)
        return self._database

    def migrate(self, to: str | None = None, *, discard: bool = False) -> tuple[str | None, str]:
        """Bring the database's schema to revision ``to`` (None: up to date), up or down:
        its revision before (None: none) and now.

        Going down is refused, with nothing changed, when it would throw away what the
        older schema cannot hold (``migrate.discards``), unless ``discard`` says to.
        """
        database = self.open_database(upgrade=False)
        before, head = database.schema_revisions()
        target = head if to is None else to
        known = migrate.known_revisions()
        if target not in known:
            raise ConfigurationError(
                f"there is no schema revision {target!r}: this cardtrace knows {', '.join(known)}"
            )
        if known.index(target) >= known.index(before or migrate.BASE):
            database.upgrade(target)
            return before, target
        lost = migrate.discards(before, target)
        if lost and not discard:
            raise ConfigurationError(
                f"going back to revision {target} would throw away stored data: "
                f"{'; '.join(lost)}. Nothing was changed (--discard to do it anyway)"
            )
        database.downgrade(target)
        return before, target

    @cached_property
    def protection_keys(self) -> ProtectionKeys:
        link_key = self.keys.secret("link.key")
        return ProtectionKeys(link_key, self.keys.secret("vault.key"), KeyStore.key_id(link_key))

    def close(self) -> None:
        if self._database is not None:
            self._database.close()

    def ingest(
        self,
        paths: Sequence[Path],
        *,
        rejects: Path | None,
        progress: Callable[[Path, int], None] | None = None,
        on_files: Callable[[list[Path]], None] | None = None,
        dry_run: bool = False,
        on_commit: Callable[[IngestSummary], None] | None = None,
        encoding: str = UTF8,
    ) -> IngestSummary:
        """Ingest files and folders; ``on_files`` learns the files before reading starts,
        ``on_commit`` the counts after each transaction (what a stopped run stored).
        Text files are read in ``encoding`` (any name Python knows, such as ``gb18030``).

        ``dry_run`` stores nothing and creates nothing, no database nor keys: the summary
        and the rejects file say what an ingest would do now. A run that finds no data
        file creates nothing either. Whatever refuses the run (the rejects file, the card
        formats, the encoding, a production node's missing keys) does so before a
        database is made, and a database that cannot be opened or made leaves no new keys.
        """
        encoding = text_encoding(encoding)
        files, ignored, truth = discover(paths, skip=[rejects] if rejects else [])

        def found(summary: IngestSummary) -> IngestSummary:
            summary.ignored_files, summary.ground_truth_files = ignored, truth
            return summary

        if rejects is not None:
            check_output(rejects, REJECTS_FILE)
        formats = self.card_formats
        if on_files is not None:
            on_files(files)
        with contextlib.ExitStack() as stack:
            if not files:
                database, keys = _empty_target(stack)
            elif dry_run:
                database, keys = self._dry_run_target(stack)
            else:
                database, keys = self._store_target()
            summary = ingest_files(
                files,
                database,
                keys,
                rejects=rejects,
                batch_size=self.settings.batch_size,
                workers=self._workers_for(files),
                formats=formats,
                encoding=encoding,
                progress=progress,
                dry_run=dry_run,
                on_commit=None if on_commit is None else lambda done: on_commit(found(done)),
            )
        return found(summary)

    def _dry_run_target(self, stack: contextlib.ExitStack) -> tuple[Database, ProtectionKeys]:
        """The database and keys a dry run checks against, without creating either.

        With no database yet nothing is stored, so an empty one in memory answers the
        same, and throw-away keys serve: digests are compared only within the run. An
        older schema is not brought up to date (that is a change too): the run refuses.
        """
        try:
            database = self.open_database(upgrade=False)
        except NotFound:
            return _empty_target(stack)
        current, needed = database.schema_revisions()
        if current != needed:
            raise ConfigurationError(
                f"the database's schema is at revision {current or 'none'} and this "
                f"cardtrace works with {needed}; a dry run changes nothing, so run "
                "'cardtrace migrate' first"
            )
        stored = _stored_key_id(database)
        if stored is None:  # nothing stored: as with no database at all
            return database, _throwaway_keys()
        return database, self._keys_to_add_to(database, stored)

    def _store_target(self) -> tuple[Database, ProtectionKeys]:
        """The database an ingest stores in, made if missing, and the keys it stores under."""
        database = self.database_to_store(("link.key", "vault.key"))
        return database, self.protection_keys_for(database)

    def database_to_store(self, keys: Sequence[str]) -> Database:
        """The database of an operation that stores under the secret keys ``keys``, made
        if missing; the caller then reads the keys, which development makes if missing.

        Neither is made for a run the other refuses. Before a database is made, a node
        that may not make keys (production) is refused for lacking them, and one that may
        for a key folder where none could be made; a database that cannot be opened or
        made (a missing folder, a server out of reach) is refused before any key is made.
        """
        try:
            return self.open_database()
        except NotFound:
            if self.keys.create_missing:
                self.keys.check_can_make()
            else:
                for name in keys:
                    self.keys.secret(name)  # refused here when missing, with nothing made
            return self.open_database(create=True)

    def protection_keys_for(self, database: Database) -> ProtectionKeys:
        """The keys an ingest protects new events under: those of the stored events.

        In development a missing key is made on first use; a database that already
        holds events must not get new keys, which would link nothing to what is stored
        (a key folder left behind by running from another directory, say).
        """
        if (stored := _stored_key_id(database)) is None:
            return self.protection_keys
        return self._keys_to_add_to(database, stored)

    def reading_keys(self, database: Database) -> ProtectionKeys:
        """The keys to read the stored events with. A read makes no key: with nothing
        stored, throw-away keys give the same answers."""
        stored = _stored_key_id(database)
        return _throwaway_keys() if stored is None else self._keys_matching(stored)

    def _keys_to_add_to(self, database: Database, stored: str) -> ProtectionKeys:
        """The node's keys, refused unless they are those of the stored events: its link
        key ``stored`` (a key id) and a vault key that opens the stored personal data,
        which new events sealed under another key would split in two."""
        keys = self._keys_matching(stored)
        sample = database.first_protected()
        if sample is not None:
            stored_id, sealed = sample
            event_id = event_id_text(stored_id)  # the leaf's form, which the seal is bound to
            try:
                Vault(keys.vault_key).open(sealed, event_id)
            except TamperDetected:
                raise ConfigurationError(
                    f"the vault.key in the key folder {self.keys.folder} does not open the "
                    f"personal data stored with event {event_id}: another node's key, or "
                    "data changed since ('cardtrace verify' tells); set CARDTRACE_KEY_DIR to "
                    "this node's key folder"
                ) from None
        return keys

    def _keys_matching(self, stored: str) -> ProtectionKeys:
        """The node's keys, refused unless its link key is ``stored`` (a key id); none is
        made, since new keys would open nothing stored."""
        held = f"the database holds events protected under link key {stored}, and the key folder"
        folder, again = self.keys.folder, "set CARDTRACE_KEY_DIR to this node's key folder"
        if not self.keys.exists("link.key"):
            raise ConfigurationError(f"{held} {folder} has no link.key; {again}")
        found = KeyStore.key_id(self.keys.secret("link.key"))
        if found != stored:
            raise ConfigurationError(f"{held} {folder} holds link key {found}; {again}")
        if not self.keys.exists("vault.key"):
            raise ConfigurationError(f"{held} {folder} has no vault.key; {again}")
        return self.protection_keys

    @cached_property
    def card_formats(self) -> dict[str, CardFormat]:
        """The built-in card-format hints, with the node's own file applied."""
        path = self.settings.card_formats
        if path is None:
            return dict(CARD_FORMATS)
        try:
            data = read_small(path, _MAX_CARD_FORMATS_BYTES)
        except OSError as exc:
            raise InvalidInput(f"card formats file {path}: {exc.strerror}") from None
        return load_card_formats(data)

    def _workers_for(self, files: Sequence[Path]) -> int:
        if self.settings.ingest_workers is not None:
            return self.settings.ingest_workers
        cores = usable_cores()
        size = input_bytes(files)  # None with a stream, which this process reads alone
        large = size is not None and size > _PARALLEL_FROM_BYTES
        return cores if large and cores > 1 else 0

    def stats(self) -> dict[str, Any]:
        """Stored events by type and by node, each with the span of their times (when
        they occurred, in UTC), each node's by type; link rows, the log's size, and the
        stored erasures by what they did."""
        database = self.database
        tallies = database.tallies()
        types: dict[str, Tally] = {}
        nodes: dict[str, Tally] = {}
        node_types: dict[str, dict[str, int]] = {}
        for (node, kind), tally in sorted(tallies.items()):
            types[kind] = tally.joined(types.get(kind))
            nodes[node] = tally.joined(nodes.get(node))
            node_types.setdefault(node, {})[kind] = tally.events
        types = dict(sorted(types.items()))
        whole: Tally | None = None
        for tally in tallies.values():
            whole = tally.joined(whole)
        return {
            "backend": database.backend,
            **_span(whole),
            "by_type": {kind: tally.events for kind, tally in types.items()},
            "by_node": {node: tally.events for node, tally in nodes.items()},
            "types": {kind: _span(tally) for kind, tally in types.items()},
            "nodes": {
                node: {**_span(tally), "by_type": node_types[node]} for node, tally in nodes.items()
            },
            "links": database.link_count(),
            "log_size": database.log_size(),
            "erasures": database.erasure_counts(),
        }

    def card_history(
        self, issuer: str, serial: str | None = None, pin: str | None = None
    ) -> CardWalk:
        """Every stored event of one card in time order: a plain walk, not yet a trace.

        A card is found by its serial or its PIN; events that name it only the other way
        (a platform that saw the PIN alone) are joined through the tokens the first set
        carries, so the walk covers both.
        """
        if (serial is None) == (pin is None):
            raise InvalidInput("name the card by exactly one of serial or pin")
        issuer = issuer_code(issuer)
        if serial is not None:
            code = card_code("serial", serial)
            if pin_like_serial(issuer, code, self.card_formats):  # never stored as one
                raise InvalidInput(
                    f"the serial has the length of a {issuer} PIN, not of a {issuer} serial, "
                    "so no stored card has it; a PIN is looked up from standard input "
                    "(--pin-stdin), since on the command line it stays in the shell's history"
                )
        else:
            code = card_code("PIN", pin or "")
        database = self.database  # before the key: no database, no key made for nothing
        tokenizer = Tokenizer(self.reading_keys(database).link_key)
        by_serial = card_token if serial is not None else pin_token
        start = by_serial(tokenizer, issuer, code)
        found: dict[int, CardEvent] = {}
        pending, seen = [start], {start}
        while pending:
            wanted = pending.pop()
            for stored in database.events_by_token(wanted):
                event = found.setdefault(
                    stored.seq, _card_event(stored.seq, stored.leaf, stored.field)
                )
                named = _card_tokens(event)
                if named.get(stored.field or "") != wanted:
                    raise _misled(stored.seq)
                for token in named.values():
                    if token not in seen:
                        seen.add(token)
                        pending.append(token)
        events = sorted(found.values(), key=lambda event: (event.occurred_at, event.seq))
        return CardWalk(issuer, events, issuer in self.card_formats)


def _stored_key_id(database: Database) -> str | None:
    """The id of the link key the stored events were protected under (None: none stored),
    as the first of the first leaves that can be read names it: an edited first leaf must
    not keep the audit from reporting it."""
    leaves = database.first_leaves(_KEY_NAMING_LEAVES)
    for leaf in leaves:
        try:
            named = orjson.loads(leaf).get("token_key")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if isinstance(named, str):
            return named
    if leaves:
        raise TamperDetected(
            f"none of the first {len(leaves)} stored events' leaves names the key it was "
            "protected under: the event rows were edited; restore the database from a backup"
        )
    return None


#: Leaves read, at most, for the one naming the stored events' link key.
_KEY_NAMING_LEAVES = 16


def _throwaway_keys() -> ProtectionKeys:
    """Keys for a run against no stored events that stores nothing: digests are compared
    within the run only."""
    return ProtectionKeys(secrets.token_bytes(32), secrets.token_bytes(32), "dry-run")


def _empty_target(stack: contextlib.ExitStack) -> tuple[Database, ProtectionKeys]:
    """An empty database in memory and throw-away keys: a run that must store nothing
    (a dry run with no database yet, a run with no data file) answers the same there."""
    empty = Database.open("sqlite://")
    stack.callback(empty.close)
    return empty, _throwaway_keys()


def _card_event(seq: int, leaf_bytes: bytes, field: str | None) -> CardEvent:
    try:
        leaf = orjson.loads(leaf_bytes)
        return CardEvent(seq, leaf["type"], leaf["occurred_at"], leaf["node_id"], field, leaf)
    except (orjson.JSONDecodeError, TypeError, KeyError):
        raise _unreadable(seq) from None


#: The link fields a card's walk follows.
_WALKED = ("card", "pin")


def _card_tokens(event: CardEvent) -> dict[str, bytes]:
    """The card and PIN tokens of an event's leaf, by which the walk finds more events."""
    try:
        tokens = event.leaf.get("tokens") or {}
        return {name: bytes.fromhex(tokens[name]) for name in _WALKED if name in tokens}
    except (AttributeError, TypeError, ValueError):
        raise _unreadable(event.seq) from None


def _misled(seq: int) -> TamperDetected:
    """The link index led the walk to an event whose leaf does not name the card: an
    edited index, whose walk would show another card's event as this one's."""
    return TamperDetected(
        f"the link index leads this card to the event at seq {seq}, whose leaf does not "
        "name the card: the index was edited; 'cardtrace verify' names what changed and "
        "'cardtrace reindex' rebuilds the index"
    )


def _unreadable(seq: int) -> TamperDetected:
    return TamperDetected(
        f"the stored event at seq {seq} is not a leaf cardtrace wrote: the row was edited; "
        "'cardtrace verify' names what changed"
    )


def event_schema() -> dict[str, Any]:
    """The JSON Schema of every event type (``cardtrace schema``)."""
    schema: dict[str, Any] = event_adapter().json_schema()
    schema["title"] = "cardtrace event"
    schema["description"] = f"One of: {', '.join(EVENT_MODELS)}"
    return schema


def simulate(
    seed: int, cards: int, out: Path, progress: Callable[[int], None] | None = None
) -> WorldSummary:
    """Write a synthetic world (node files and ground truth) to ``out``."""
    from cardtrace.sim import generate

    return generate(seed=seed, cards=cards, out=out, progress=progress)


def fraud_card(world: Path) -> TruthRecord:
    """The card of a synthetic world that best shows a trace: bought with stolen money,
    nothing of it rejected, and the longest true chain of custody."""
    from cardtrace.sim import TRUTH_FILE, read_truth

    best: TruthRecord | None = None
    for record in read_truth(world / TRUTH_FILE):
        usable = record.stolen_funds and not record.rejected
        if usable and (best is None or len(record.hops) > len(best.hops)):
            best = record
    if best is None:
        raise NotFound(f"the ground truth in {world} names no card bought with stolen money")
    return best


def _span(tally: Tally | None) -> dict[str, Any]:
    """Events and when the first and the last of them occurred (UTC), None for no events."""
    if tally is None:
        return {"events": 0, "first_occurred": None, "last_occurred": None}
    return {
        "events": tally.events,
        "first_occurred": format_us(tally.first_us),
        "last_occurred": format_us(tally.last_us),
    }
