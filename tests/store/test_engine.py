"""Opening a database: a missing SQLite file, the URLs refused, and how a connection is
tuned for ingest."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from cardtrace.errors import ConfigurationError, NotFound
from cardtrace.settings import usable_cores
from cardtrace.store.engine import open_engine


def test_a_missing_sqlite_file_is_made_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with pytest.raises(NotFound, match=f"no database at {path}"):
        open_engine(f"sqlite:///{path}", create=False)
    assert not path.exists()
    for url in ("sqlite://", "sqlite:///:memory:"):  # nothing on disk to be missing
        open_engine(url, create=False).dispose()
    engine = open_engine(f"sqlite:///{path}")
    with engine.connect():
        assert path.exists()
    engine.dispose()
    open_engine(f"sqlite:///{path}", create=False).dispose()


def test_sqlite_connections_use_wal_big_pages_file_sorts_and_sort_helper_threads(
    tmp_path: Path,
) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'tuned.db'}")
    names = ("journal_mode", "page_size", "temp_store", "threads")
    try:
        with engine.connect() as connection:
            found = {name: connection.execute(text(f"PRAGMA {name}")).scalar() for name in names}
    finally:
        engine.dispose()
    helpers = usable_cores() - 1
    assert found == {"journal_mode": "wal", "page_size": 16384, "temp_store": 1, "threads": helpers}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("timeout=abc", "'timeout'"),  # SQLAlchemy raised ValueError
        ("timeout=5", "'timeout'"),  # cardtrace's busy timeout would override it
        ("isolation_level=SERIALIZABLE", "'isolation_level'"),
        ("foo=bar", "'foo'"),  # SQLAlchemy warned on two lines and ignored it
        ("mode=ro", "'mode'"),  # a SQLite URI parameter, taken only with uri=true
        ("uri=abc", "'uri' must be true or false"),
        ("uri=true&foo=1", "'foo'"),
        ("uri=true&timeout=5", "'timeout'"),
        ("uri=true&mode=ro&mode=rw", "'mode' is given twice"),
    ],
)
def test_sqlite_query_parameters_cardtrace_does_not_take_are_refused_in_one_line(
    tmp_path: Path, query: str, named: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        open_engine(f"sqlite:///{tmp_path / 'x.db'}?{query}")
    message = str(refused.value)
    assert message.startswith("database URL: query parameter ")
    assert named in message
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_sqlite_uris_take_sqlites_own_parameters(tmp_path: Path) -> None:
    path = tmp_path / "uri.db"
    engine = open_engine(f"sqlite:///file:{path}?uri=true&mode=rwc&cache=private")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
    assert path.exists()
    with pytest.raises(NotFound):  # uri=false names a file as a plain URL does
        open_engine(f"sqlite:///{tmp_path / 'missing.db'}?uri=false", create=False)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite+pysqlcipher:///a.db", "'pysqlcipher'"),  # was ModuleNotFoundError
        ("sqlite+pysqlite:///a.db", "'pysqlite'"),
        ("postgresql+asyncpg://user:hunter2@db.example/cards", "'asyncpg'"),
        ("postgresql+psycopg2://user:hunter2@db.example/cards", "'psycopg2'"),
        ("postgresql+pg8000://user:hunter2@db.example/cards", "'pg8000'"),
    ],
)
def test_drivers_other_than_sqlite3_and_psycopg_are_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, driver: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match=f"driver {driver} is not supported") as refused:
        open_engine(url)
    assert "hunter2" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("prepare_threshold=0", "'prepare_threshold' is not a PostgreSQL connection parameter"),
        ("sslmode=require&foo=bar", "'foo' is not a PostgreSQL connection parameter"),
        ("password=hunter2&sslmode=disable&sslmode=require", "'sslmode' is given twice"),
    ],
)
def test_postgresql_query_parameters_libpq_does_not_take_are_refused_by_name(
    query: str, named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named) as refused:
        open_engine(f"postgresql://user:hunter2@db.example/cards?{query}")
    assert "hunter2" not in str(refused.value)


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg"])
def test_a_postgresql_url_with_connection_parameters_connects(
    postgres_url: str, scheme: str
) -> None:
    url = postgres_url.replace("postgresql", scheme, 1)
    query = "sslmode=disable&connect_timeout=5&application_name=cardtrace-test"
    engine = open_engine(f"{url}?{query}")
    try:
        with engine.connect() as connection:
            name = connection.execute(text("SELECT current_setting('application_name')"))
            assert name.scalar() == "cardtrace-test"
    finally:
        engine.dispose()
