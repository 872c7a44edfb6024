"""Opening a database: a missing SQLite file, the URLs refused, and how a connection is
tuned for ingest."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from cardtrace.errors import ConfigurationError, NotFound
from cardtrace.settings import usable_cores
from cardtrace.store.engine import in_memory, open_engine


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


def sqlite_uri(path: str, query: str = "") -> str:
    return f"sqlite:///file:{path}?uri=true{query}"


@pytest.mark.parametrize(
    "spelling",
    [
        "{path}",
        "//{path}",  # an empty authority
        "//localhost{path}",
        "{quoted}",  # SQLite decodes %HH
        "{path}#part",  # SQLite ignores a fragment
    ],
)
def test_a_missing_sqlite_uri_file_is_refused_unless_asked_to_make_it(
    tmp_path: Path, spelling: str
) -> None:
    path = tmp_path / "a b.db"
    url = sqlite_uri(spelling.format(path=path, quoted=str(path).replace(" ", "%20")))
    with pytest.raises(NotFound, match=f"^no database at {path}; "):
        open_engine(url, create=False)
    assert list(tmp_path.iterdir()) == []
    engine = open_engine(url)
    with engine.connect():
        assert path.exists()
    engine.dispose()
    open_engine(url, create=False).dispose()


def test_a_relative_sqlite_uri_file_is_looked_for_where_sqlite_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFound, match=r"^no database at rel\.db; "):
        open_engine(sqlite_uri("rel.db", "&mode=rwc"), create=False)
    with pytest.raises(NotFound, match=r"^no database at rel\.db; "):  # a plain name with uri=true
        open_engine("sqlite:///rel.db?uri=true", create=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("query", ["&mode=ro", "&mode=rw", "&immutable=1"])
def test_a_sqlite_uri_that_opens_only_an_existing_file_says_so_even_for_ingest(
    tmp_path: Path, query: str
) -> None:
    path = tmp_path / "a.db"
    parameter = query.removeprefix("&")
    for create in (True, False):
        with pytest.raises(NotFound, match=f"^no database at {path}; with {parameter} ") as refused:
            open_engine(sqlite_uri(str(path), query), create=create)
        assert "\n" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []
    open_engine(f"sqlite:///{path}").dispose()
    with open_engine(f"sqlite:///{path}").connect():
        pass
    open_engine(sqlite_uri(str(path), query), create=False).dispose()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        sqlite_uri(":memory:"),
        sqlite_uri(":memory:", "&cache=shared"),
        sqlite_uri("named", "&mode=memory&cache=shared"),
        sqlite_uri("/x/named", "&vfs=memdb"),
        sqlite_uri(""),  # SQLite's private temporary database, deleted when closed
        "sqlite:///?uri=true",
    ],
)
def test_sqlite_uris_of_databases_in_memory_are_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert in_memory(url)
    open_engine(url, create=False).dispose()  # nothing on disk to be missing
    assert list(tmp_path.iterdir()) == []


def test_files_named_by_sqlite_uris_are_not_in_memory(tmp_path: Path) -> None:
    assert not in_memory(sqlite_uri(str(tmp_path / "a.db")))
    assert not in_memory(sqlite_uri(str(tmp_path / "a.db"), "&mode=rwc"))
    assert not in_memory("sqlite:///file::memory:")  # without uri=true, a file of that name
    assert not in_memory("sqlite:///?mode=memory")  # refused when opened: uri=true is missing
    assert not in_memory("postgresql://db.example/cards")


def test_a_sqlite_uri_naming_a_host_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^database URL: a SQLite URI ") as refused:
        open_engine(sqlite_uri(f"//db.example{tmp_path}/a.db"))
    assert "db.example" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []
