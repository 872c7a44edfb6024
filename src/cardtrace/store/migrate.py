"""Bringing a database to the current schema with Alembic, from code (no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cardtrace.errors import ConfigurationError
from cardtrace.store.engine import describe, write_transaction

__all__ = ["upgrade"]

_SCRIPTS = Path(__file__).parent / "migrations"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations the database lacks up to ``revision``, in one transaction."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    try:
        with write_transaction(engine) as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise ConfigurationError(f"cannot open the database: {describe(exc)}") from None
