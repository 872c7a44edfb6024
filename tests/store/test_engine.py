"""Opening a database: a missing SQLite file, the URLs refused, and how a connection is
tuned for ingest."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cardtrace.errors import CardtraceError, ConfigurationError, NotFound
from cardtrace.settings import usable_cores
from cardtrace.store.engine import describe, in_memory, open_engine


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


PORT = "database URL: its port is not a number from 1 to 65535"
HOST_NAME = "database URL: a host it names is not a valid host name"
MULTIHOST = "database URL: its host and port parameters do not pair up"
QUERY_PORT = "database URL: a port of its host or port parameters is not a number from 1 to 65535"
HOST_TAIL = "database URL: its host is followed by text that is not :PORT, / or ?"
READ_ALIKE = "database URL: SQLAlchemy and libpq would read its "
BRACKET = "database URL: a host it names holds a '[' or ']'"
COLON = "database URL: a host it names holds a ':' but is not an IPv6 address"
HOSTS_TWICE = "database URL: a host parameter given more than once is HOST or HOST:PORT"


def _refused_in_one_line_without_the_password(url: str, said: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(said)) as refused:
        open_engine(url)
    message = str(refused.value)
    assert message.startswith("database URL: ")
    assert "hunter2" not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://u:hunter2@db.example:abc/cards", PORT),  # make_url raised ValueError
        ("postgresql://u:hunter2@db.example:/cards", PORT),
        ("postgresql://u:hunter2/cards", PORT),  # no host: the password is read as the port
        ("postgresql://u:hunter2@db.example:0/cards", PORT),  # libpq took 0 for 5432
        ("postgresql://u:hunter2@db.example:65536/cards", PORT),
        ("postgresql://[::1", "database URL: the IPv6 address of its host has no closing ']'"),
        ("postgresql://u:hunter2@[::1/cards", "the IPv6 address of its host has no closing"),
        # make_url read '1]' as the port: the address does not start the host.
        ("postgresql://u:hunter2@x[::1]/cards", "a host it names holds a '[' or ']'"),
        ("postgresql://u:hunter2@x[::1]:5432/cards", "a host it names holds a '[' or ']'"),
        # libpq reads up to a NUL and drops the rest: another database, no host.
        ("postgresql://u:hunter2@db.example/ca%00rds", "its database name holds a NUL"),
        ("postgresql://u:hunter2%00@db.example/cards", "its password holds a NUL"),
        ("postgresql://u:hunter2@db.example/cards?sslmode=re%00quire", "'sslmode' holds a NUL"),
        # Bytes of a command line that are not UTF-8: psycopg raised UnicodeEncodeError.
        ("postgresql://u\udcff:hunter2@db.example/cards", "its user name is not UTF-8 text"),
        ("postgresql://u:hunter2@db.example/c\udcffards", "its database name is not UTF-8"),
        # The host lookup's IDNA encoding raised UnicodeError.
        ("postgresql://u:hunter2@db..example/cards", HOST_NAME),
        (f"postgresql://u:hunter2@{'a' * 64}.example/cards", HOST_NAME),
        ("postgresql://u:hunter2@/cards?host=ok.example,db..example", HOST_NAME),
        # SQLAlchemy's pairing of the query's hosts and ports raised ArgumentError.
        ("postgresql://u:hunter2@/cards?host=a:1&host=b:2&port=3", MULTIHOST),
        ("postgresql://u:hunter2@/cards?host=a&port=abc", MULTIHOST),
        ("postgresql://u:hunter2@/cards?host=a&host=b&port=1,2,3", MULTIHOST),
        # A '/' in the user name ends the host; after the '?' the password is in the query,
        # which SQLAlchemy's message about ports and a parameter's name would show.
        ("postgresql://a/?port=:hunter2@db.example/cards", MULTIHOST),
        ("postgresql://a/?b:hunter2=@db.example/cards", "a query parameter whose name is not a"),
    ],
)
def test_a_postgresql_url_the_driver_would_fail_on_is_refused_naming_the_part(
    url: str, said: str
) -> None:
    assert not in_memory(url)
    _refused_in_one_line_without_the_password(url, said)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        # make_url stopped at the 'x' and said nothing: [::1], port 5432, no database.
        ("postgresql://u:hunter2@[::1]x/cards", HOST_TAIL),
        ("postgresql://u:hunter2@[::1]x:6543/cards", HOST_TAIL),
        ("postgresql://u:hunter2@[::1],db.example/cards", READ_ALIKE),  # libpq's host list
        ("postgresql://u:hunter2@a,b:5433/cards", READ_ALIKE + "port"),  # libpq: b's port
        # Where make_url stopped, and libpq would too, at a NUL: the database was lost.
        ("postgresql://u:hunter2@[::1]\x00/cards", "before its query holds a NUL"),
        ("postgresql://u:hunter2@[::1]x\udcff/cards", "before its query is not UTF-8"),
        ("postgresql://u:hunter2@db.example/cards?sslmode=disable\n&sslmode=x", "line break"),
        # Hosts read from text libpq reads otherwise or refuses.
        ("postgresql://u:hunter2@[::1]]/cards", HOST_TAIL),  # was the host '::1]'
        ("postgresql://u:hunter2@[[::1]/cards", BRACKET),
        ("postgresql://u:hunter2@[]/cards", "its host is an empty IPv6 address"),  # was '[]'
        ("postgresql://u:hunter2@[db/cards", "its host has no closing ']'"),
        ("postgresql://u:hunter2@[db:x]/cards", COLON),
        ("postgresql://u:hunter2@%2Ftmp/cards", "its host holds a %-escape"),  # not decoded
        # Ports int() takes: make_url handed on 1000 and 5432.
        ("postgresql://u:hunter2@db.example:1_000/cards", PORT),
        ("postgresql://u:hunter2@db.example: 5432/cards", PORT),
        ("postgresql://u:hunter2@db.example:5432 /cards", PORT),
        ("postgresql://u:hunter2@db.example:+5432/cards", PORT),
        ("postgresql://u:hunter2@db.example:\u0665\u0664\u0663\u0662/cards", PORT),
        ("postgresql://u:hunter2@db.example:\uff15\uff14\uff13\uff12/cards", PORT),
        ("postgresql://u:hunter2@db.example:00/cards", PORT),
        ("postgresql://u:hunter2@db.example:99999999999999999999/cards", PORT),
        ("postgresql://u:hunter2@:1_000/cards", PORT),  # no host: a socket
        ("postgresql://u:hunter2@[::1]:+5432/cards", PORT),
        # The query's ports, which SQLAlchemy reads with int() too, and libpq's 0.
        ("postgresql://u:hunter2@/cards?host=db.example&port=1_000", QUERY_PORT),
        ("postgresql://u:hunter2@/cards?host=db.example&port=%2B5432", QUERY_PORT),
        ("postgresql://u:hunter2@/cards?host=db.example&port=%D9%A5%D9%A4", QUERY_PORT),
        ("postgresql://u:hunter2@/cards?host=db.example&port=0", QUERY_PORT),
        ("postgresql://u:hunter2@/cards?port=65536", QUERY_PORT),
        ("postgresql://u:hunter2@/cards?host=a,b&port=5432,1_000", QUERY_PORT),
        ("postgresql://u:hunter2@/cards?host=db.example:0", QUERY_PORT),  # was dropped
        ("postgresql://u:hunter2@/cards?host=db.example:", QUERY_PORT),
        ("postgresql://u:hunter2@/cards?host=db.example:%D9%A5", QUERY_PORT),  # was 5
        ("postgresql://u:hunter2@/cards?host=a:1_000&host=b:2", QUERY_PORT),
        ("postgresql://u:hunter2@/cards?host=db.example:1_000", QUERY_PORT),  # the host as is
        ("postgresql://u:hunter2@/cards?host=[::1]", BRACKET),
        ("postgresql://u:hunter2@/cards?host=[::1]:5432", BRACKET),
        ("postgresql://u:hunter2@/cards?host=::1&host=::2", HOSTS_TWICE),  # was ValueError
        ("postgresql://u:hunter2@/cards?host=a:1:2&host=b", HOSTS_TWICE),  # ':2' dropped
        ("postgresql://u:hunter2@/cards?host=a,b&host=c", HOSTS_TWICE),
    ],
)
def test_a_postgresql_url_sqlalchemy_would_read_otherwise_than_it_says_is_refused(
    url: str, said: str
) -> None:
    _refused_in_one_line_without_the_password(url, said)


#: What a connection is opened with, compared as libpq compares it: no empty values.
_CONNECTION_KEYS = ("user", "password", "host", "port", "dbname")


def connection_arguments(url: str) -> dict[str, str]:
    """What the engine of ``url`` hands psycopg to connect with."""
    engine = open_engine(url)
    try:
        _, arguments = engine.dialect.create_connect_args(engine.url)
    finally:
        engine.dispose()
    return _compared(arguments)


def libpq_reading(url: str) -> dict[str, str]:
    """What libpq's own parser reads ``url`` as."""
    return _compared(conninfo_to_dict(url))


def _compared(arguments: Any) -> dict[str, str]:
    found = {key: str(arguments.get(key) or "") for key in _CONNECTION_KEYS}
    if found["port"]:
        found["port"] = ",".join(
            str(int(port)) if port else "" for port in found["port"].split(",")
        )
    return {key: value for key, value in found.items() if value}


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:hunter2@:5432/cards",  # an empty host: the default socket, port 5432
        "postgresql://u@/cards",
        "postgresql://u:hunter2@[::1]/cards",
        "postgresql://u:hunter2@[::ffff:10.0.0.1]:6543/cards",
        "postgresql://u:hunter2@db.example:05432/cards",
        "postgresql://u:hunter2@127.0.0.1:65535/cards",
        "postgresql://u:hunter2@db.example:1/",
    ],
)
def test_a_postgresql_url_means_what_libpq_reads_it_as(url: str) -> None:
    assert connection_arguments(url) == libpq_reading(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:hunter2@db.example:5432/cards",
        "postgresql://u:hunter2@[::1]:5432/cards",
        "postgresql://u:hunter2@db.example./cards",  # a fully qualified name
        "postgresql://u:hunter2@xn--bcher-kva.example/cards",
        "postgresql://u:hunter2@b\u00fccher.example/cards",
        "postgresql://u@/cards?host=/var/run/postgresql",  # a socket's folder, not a name
        "postgresql://u@/cards?host=a.example:5432&host=b.example:5433",
        "postgresql://u@/cards?host=a.example,b.example&port=5432,5433",
        "postgresql://u@/cards?host=a.example,b.example&port=5432,",  # libpq's default port
        "postgresql://u@/cards?host=::1",
        "postgresql://u@/cards?host=::1,fe80::1%25eth0&port=5432,5433",
        "postgresql://u@/cards?host=/var/run/postgresql&port=5433",
        "postgresql://u@:5432/cards",  # an empty host: the default socket
    ],
)
def test_postgresql_urls_libpq_takes_are_not_refused(url: str) -> None:
    open_engine(url).dispose()  # nothing is connected to yet


def test_the_query_s_hosts_and_ports_reach_libpq_as_written() -> None:
    pairs = "host=a.example:5432&host=b.example:6543"
    assert connection_arguments(f"postgresql://u@/cards?{pairs}") == {
        "user": "u",
        "host": "a.example,b.example",
        "port": "5432,6543",
        "dbname": "cards",
    }
    arguments = connection_arguments("postgresql://u@/cards?host=::1,db.example&port=1,65535")
    assert (arguments["host"], arguments["port"]) == ("::1,db.example", "1,65535")


_LABEL = r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?"
_HOSTS = (
    st.just("")  # the default socket
    | st.from_regex(rf"{_LABEL}(\.{_LABEL}){{0,3}}", fullmatch=True)
    | st.ip_addresses(v=4).map(str)
    | st.ip_addresses(v=6).map(lambda address: f"[{address}]")
)
#: Text a user name, password or database name may hold, percent-encoded in the URL.
_URL_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))


@st.composite
def postgresql_url(draw: st.DrawFn, port: st.SearchStrategy[str] | None = None) -> str:
    """A PostgreSQL URL made of valid parts, its port drawn from ``port`` if given."""
    user = quote(draw(_URL_TEXT), safe="")
    password = quote(draw(_URL_TEXT), safe="")
    host = draw(_HOSTS)
    written = draw((st.none() | st.integers(1, 65535).map(str)) if port is None else port)
    database = quote(draw(_URL_TEXT), safe="")
    userinfo = draw(st.sampled_from([f"{user}:{password}@", f"{user}@", ""]))
    return f"postgresql://{userinfo}{host}{'' if written is None else ':' + written}/{database}"


@settings(max_examples=300, deadline=None)
@given(url=postgresql_url())
def test_a_url_made_of_valid_parts_is_taken_and_means_what_libpq_reads(url: str) -> None:
    assert connection_arguments(url) == libpq_reading(url)


def _in_digits(port: str, zero: int) -> str:
    """``port`` in the digits of another script (from its ``zero``), which int() reads."""
    return "".join(chr(zero + int(digit)) for digit in port)


#: Ports Python's int() reads (make_url and SQLAlchemy's query pairing use it) but a URL's
#: port is not: a number from 1 to 65535 in ASCII digits.
_MUTATED_PORTS = (
    st.integers(1, 65535)
    .map(str)
    .flatmap(
        lambda port: st.sampled_from(
            [
                f" {port}",
                f"{port} ",
                f"+{port}",
                f"{port[0]}_{port[1:]}" if len(port) > 1 else f"{port}_0",
                _in_digits(port, 0x0660),  # Arabic-Indic
                _in_digits(port, 0x0966),  # Devanagari
                _in_digits(port, 0xFF10),  # full-width
            ]
        )
    )
    | st.sampled_from(["0", "00", "-1"])
    | st.integers(65536, 10**30).map(str)
)


@settings(max_examples=300, deadline=None)
@given(url=postgresql_url(port=_MUTATED_PORTS))
def test_a_url_whose_port_is_not_1_to_65535_in_ascii_digits_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        open_engine(url)
    assert str(refused.value) == (
        "database URL: its port is not a number from 1 to 65535 (postgresql://USER@HOST:PORT/DB)"
    )


@settings(max_examples=200, deadline=None)
@given(port=_MUTATED_PORTS, paired=st.booleans())
def test_a_query_port_that_is_not_1_to_65535_in_ascii_digits_is_refused(
    port: str, paired: bool
) -> None:
    written = quote(port, safe="")
    query = f"host=db.example:{written}&host=b.example" if paired else f"port={written}"
    with pytest.raises(ConfigurationError) as refused:
        open_engine(f"postgresql://u:hunter2@/cards?{query}")
    assert str(refused.value).startswith(QUERY_PORT)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://localhost/{tmp}/a.db",  # read as the relative path {tmp}/a.db
        "sqlite://tmp/host.db",  # SQLAlchemy raised ArgumentError once the keys were made
        "sqlite://u:hunter2@/a.db",
        "sqlite://:5/a.db",
        "sqlite://localhost",  # was taken for a database in memory
    ],
)
def test_a_sqlite_url_with_a_host_port_or_user_is_refused_showing_the_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    url = url.format(tmp=str(tmp_path).lstrip("/"))
    assert not in_memory(url)
    for create in (True, False):
        with pytest.raises(ConfigurationError) as refused:
            open_engine(url, create=create)
        assert str(refused.value) == (
            "database URL: a SQLite URL names a file, with no host, port or user before it: "
            "sqlite:///RELATIVE/PATH or sqlite:////ABSOLUTE/PATH"
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["sqlite:///a%00b.db", "sqlite:///file:a%00b.db?uri=true"])
def test_a_sqlite_file_name_with_a_nul_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for create in (True, False):  # the driver raised ValueError, and stats said "no database"
        with pytest.raises(
            ConfigurationError, match=r"^database URL: the SQLite file name holds a NUL"
        ):
            open_engine(url, create=create)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [("missing/x.db", "does not exist"), ("a-file/x.db", "is not a folder")],
)
def test_a_new_sqlite_file_in_a_folder_that_is_not_there_is_refused_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, reason: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_bytes(b"")
    folder = name.partition("/")[0]
    for url in (f"sqlite:///{name}", sqlite_uri(name)):
        with pytest.raises(ConfigurationError) as refused:
            open_engine(url)
        assert str(refused.value) == (
            f"cannot create the SQLite database {name}: its folder {folder} {reason}"
        )
        with pytest.raises(NotFound, match=f"^no database at {name}; "):
            open_engine(url, create=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file"]


def test_a_folder_named_as_the_sqlite_file_is_refused_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "a.db"
    folder.mkdir()
    for create in (True, False):
        with pytest.raises(ConfigurationError) as refused:
            open_engine(f"sqlite:///{folder}", create=create)
        assert str(refused.value) == f"cannot open the SQLite database {folder}: it is a folder"
    assert list(folder.iterdir()) == []


#: Pieces URLs are made of, and the characters that split them or that drivers choke on.
_URL_PIECES = st.lists(
    st.sampled_from([*"ab1:/@[]?#%&=+.,-_ \x00\u00fc\udcff", "%00", "%zz"]), max_size=12
).map("".join)


@st.composite
def url_like(draw: st.DrawFn) -> str:
    """Text shaped like a database URL, the password always hunter2, the rest anything."""
    scheme = draw(st.sampled_from(["sqlite", "postgresql", "postgresql+psycopg", "sqlite+x"]))
    user = draw(_URL_PIECES)
    host = draw(_URL_PIECES | st.sampled_from(["[::1]", "[::1", "db.example", "a" * 64]))
    port = draw(st.none() | _URL_PIECES | st.integers(-1, 70000).map(str))
    path = draw(_URL_PIECES)
    query = draw(st.none() | _URL_PIECES | st.sampled_from(["host=a:1&port=2", "uri=true"]))
    return (
        f"{scheme}://{user}:hunter2@{host}{'' if port is None else ':' + port}/{path}"
        f"{'' if query is None else '?' + query}"
    )


@settings(max_examples=400, deadline=None)
@given(url=url_like())
def test_any_url_gives_an_engine_or_one_line_that_never_shows_the_password(url: str) -> None:
    try:
        parsed = make_url(url)
    except ValueError:  # ArgumentError is one too
        shown_as_file = False
    else:  # a SQLite path is shown, whatever the text read as one holds
        shown_as_file = parsed.get_backend_name() == "sqlite" and "hunter2" in (
            parsed.database or ""
        )
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        try:
            open_engine(url, create=True).dispose()
        except CardtraceError as refused:
            message = str(refused)
            assert "\n" not in message
            assert shown_as_file or "hunter2" not in message
        assert os.listdir(folder) == []  # an engine connects only when used


def test_a_full_disk_is_told_apart_on_either_backend() -> None:
    hint = "(the transaction under way was undone and those before it are kept;"
    postgres = psycopg.errors.DiskFull('could not extend file "base/1/2": No space left')
    assert describe(postgres).startswith('could not extend file "base/1/2": No space left ')
    assert hint in describe(postgres)
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY
    assert describe(locked) == "database is locked"
    assert hint not in describe(psycopg.OperationalError("connection refused"))
