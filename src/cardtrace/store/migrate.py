"""Moving a database between schema revisions with Alembic, from code (no alembic.ini).

Up to the newest is what every command does on opening; down is for going back to an
older cardtrace. A migration whose undoing throws away what the older schema cannot
hold, and the newer cannot rebuild, says what in its module-level ``discards``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from cardtrace.errors import ConfigurationError
from cardtrace.store.bulk import lock_writer
from cardtrace.store.engine import VERSION_TABLE, describe, write_transaction

__all__ = ["BASE", "discards", "downgrade", "known_revisions", "revisions", "upgrade"]

_SCRIPTS = Path(__file__).parent / "migrations"
#: The revision before the first: an empty database.
BASE = "base"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def revisions(engine: Engine) -> tuple[str | None, str]:
    """The database's schema revision (None before the first) and the newest this code has."""
    script = ScriptDirectory.from_config(_config())
    head = script.get_current_head()
    assert head is not None  # the migrations form one line
    try:
        with engine.connect() as connection:
            return _current(connection, script), head
    except SQLAlchemyError as exc:
        raise ConfigurationError(f"cannot open the database: {describe(exc)}") from None


def known_revisions() -> list[str]:
    """Every schema revision this code knows, oldest first, after :data:`BASE`."""
    script = ScriptDirectory.from_config(_config())
    return [BASE, *reversed([known.revision for known in script.walk_revisions()])]


def discards(current: str | None, target: str) -> list[str]:
    """What going down from ``current`` to ``target`` throws away, newest step first."""
    script = ScriptDirectory.from_config(_config())
    order = known_revisions()
    undone = order[order.index(target) + 1 : order.index(current or BASE) + 1]
    modules = (script.get_revision(revision).module for revision in reversed(undone))
    return [what for module in modules if (what := getattr(module, "discards", None))]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations the database lacks up to ``revision``, in one transaction that
    holds the writer lock: two commands opening a new database at once both find it
    migrated once. A database already at the newest revision is only read: commands that
    open it do not wait for a writer."""
    if revision == "head":
        current, head = revisions(engine)
        if current == head:
            return
    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo the migrations after ``revision``, in one transaction (see :func:`discards`)."""
    _run(engine, command.downgrade, revision)


def _run(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    config = _config()
    try:
        with write_transaction(engine) as connection:
            # Another command may be migrating the same database: it goes first, and this
            # one then finds the schema it made (on SQLite the write transaction waits).
            lock_writer(connection)
            _current(connection, ScriptDirectory.from_config(config))
            config.attributes["connection"] = connection
            step(config, revision)
    except SQLAlchemyError as exc:
        raise ConfigurationError(f"cannot open the database: {describe(exc)}") from None


def _current(connection: Connection, script: ScriptDirectory) -> str | None:
    """The database's revision, if it is one of ours; a database that is not is refused.

    A schema of a newer cardtrace would fail in its migrations; a database holding other
    tables and no cardtrace schema (a mistyped path to another program's file) must not
    get cardtrace's tables added to it.
    """
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        others = sorted(set(inspect(connection).get_table_names()) - {VERSION_TABLE})
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise ConfigurationError(
                f"not a cardtrace database: it holds other tables ({shown}) and no "
                "cardtrace schema; name an empty or a cardtrace database"
            )
    elif current not in {known.revision for known in script.walk_revisions()}:
        raise ConfigurationError(
            f"the database's schema is at revision {current}, which this cardtrace does "
            f"not know (its newest is {script.get_current_head()}): it was made by a newer "
            "cardtrace; use that one"
        )
    return current
