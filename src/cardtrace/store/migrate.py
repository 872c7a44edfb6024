"""Bringing a database to the current schema with Alembic, from code (no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from cardtrace.errors import ConfigurationError
from cardtrace.store.engine import VERSION_TABLE, describe, write_transaction

__all__ = ["revisions", "upgrade"]

_SCRIPTS = Path(__file__).parent / "migrations"


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


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations the database lacks up to ``revision``, in one transaction."""
    config = _config()
    try:
        with write_transaction(engine) as connection:
            _current(connection, ScriptDirectory.from_config(config))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
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
