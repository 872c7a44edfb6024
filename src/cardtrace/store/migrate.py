"""Bringing a database to the current schema with Alembic, from code (no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cardtrace.errors import ConfigurationError
from cardtrace.store.engine import describe, write_transaction

__all__ = ["revisions", "upgrade"]

_SCRIPTS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def revisions(engine: Engine) -> tuple[str | None, str]:
    """The database's schema revision (None before the first) and the newest this code has."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None  # the migrations form one line
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision(), head
    except SQLAlchemyError as exc:
        raise ConfigurationError(f"cannot open the database: {describe(exc)}") from None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations the database lacks up to ``revision``, in one transaction."""
    config = _config()
    try:
        with write_transaction(engine) as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise ConfigurationError(f"cannot open the database: {describe(exc)}") from None
