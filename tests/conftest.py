"""Shared fixtures: a real throwaway PostgreSQL server, and a database URL per backend.

The server (tests/pgserver.py) is started once per test session, on a free port of
127.0.0.1, and stopped and removed at the end even when tests fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import psycopg
import pytest

from pgserver import PostgresMissing, throwaway_postgres

_databases = count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a fresh PostgreSQL server's admin database."""
    try:
        with throwaway_postgres() as url:
            yield url
    except PostgresMissing as exc:
        pytest.fail(str(exc))


def _new_postgres_database(server: str) -> str:
    name = f"test_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new, empty database on the session's server."""
    return _new_postgres_database(postgres_server)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each backend: the contract suite runs against both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cardtrace.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=BACKENDS)
def fresh_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[], str]:
    """Makes a new, empty database of each backend at every call: for a property test,
    whose examples share the test's fixtures and must not share a database."""
    if request.param == "sqlite":
        return lambda: f"sqlite:///{tmp_path_factory.mktemp('db') / 'cardtrace.db'}"
    server = str(request.getfixturevalue("postgres_server"))
    return lambda: _new_postgres_database(server)
