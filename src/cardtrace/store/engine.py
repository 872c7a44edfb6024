"""Opening a database: the SQLAlchemy engine, tuned per backend, with errors mapped.

SQLite is the embedded default: one file in WAL mode, ``synchronous=NORMAL`` (durable at
each checkpoint of the WAL, safe against a killed process), and ``BEGIN IMMEDIATE`` so a
writer takes the write lock when its transaction starts instead of failing half-way.
PostgreSQL is reached through psycopg 3 with a ``postgresql://`` URL. Other drivers are
refused, and so are query parameters other than libpq's connection parameters (for
PostgreSQL) or ``uri=true`` with SQLite's URI parameters, a URL SQLAlchemy cannot read,
and what the driver would fail on only when it connects: each in one line naming the
part at fault, before anything is opened.
"""

from __future__ import annotations

import ipaddress
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import QueuePool, SingletonThreadPool
from sqlalchemy.util import asbool

from cardtrace.errors import ConfigurationError, NotFound
from cardtrace.files import make_a_file_in
from cardtrace.settings import usable_cores

__all__ = [
    "OPERATIONAL_ERRORS",
    "SQLITE_CACHE_KIB",
    "VERSION_TABLE",
    "describe",
    "in_memory",
    "open_engine",
    "write_transaction",
]

#: What a database raises when it cannot do what is asked for reasons outside the
#: statement (read-only file, full disk, lost connection, lock timeout), through
#: SQLAlchemy or straight from the driver (the bulk inserts use the driver's cursor).
OPERATIONAL_ERRORS = (OperationalError, sqlite3.OperationalError, psycopg.OperationalError)

#: Page cache of a SQLite connection. Random-key index pages stay hot in it between
#: transactions, which is what keeps ingest fast once the indexes outgrow memory.
SQLITE_CACHE_KIB = 64 * 1024


#: Alembic's record of a database's schema revision: a database holding other tables
#: and not this one is another program's.
VERSION_TABLE = "alembic_version"

#: What a SQLite URL names as its database to mean one in memory (``sqlite://``).
_IN_MEMORY = frozenset({None, "", ":memory:"})

#: The drivers cardtrace is built and tested with: the standard library's sqlite3 and
#: psycopg 3. Another (``sqlite+pysqlcipher``, ``postgresql+asyncpg``) may be missing,
#: or behave otherwise: it is refused rather than tried.
_DRIVERS = frozenset({"sqlite", "postgresql", "postgresql+psycopg"})
_EXPECTED = "expected sqlite:///FILE or postgresql://HOST/DB"
#: What the name of a query parameter is made of (libpq's and SQLite's all are).
_WORD = re.compile(r"[A-Za-z0-9_]{1,64}")
_BAD_PORT = (
    "database URL: its port is not a number from 1 to 65535 (postgresql://USER@HOST:PORT/DB)"
)
_BRACKETED = (
    "database URL: a host it names holds a '[' or ']'; an IPv6 address is written "
    "[ADDRESS] in the URL's host and bare in ?host= (postgresql://USER@[ADDRESS]/DB)"
)
_BAD_QUERY_PORT = (
    "database URL: a port of its host or port parameters is not a number from 1 to 65535 "
    "(host=H1,H2&port=P1,P2 or host=H1:P1&host=H2:P2)"
)

#: SQLite's own URI parameters, taken with ``uri=true`` (https://sqlite.org/uri.html).
#: The driver's (``timeout``, ``isolation_level``, ...) are refused: cardtrace sets what
#: they would on every connection (a 30 s busy timeout, its own transactions), and
#: SQLAlchemy would fail on a bad value, or warn on two lines and ignore a name it does
#: not know.
_SQLITE_URI_PARAMETERS = frozenset(
    {"cache", "immutable", "mode", "modeof", "nolock", "psow", "vfs"}
)


#: SQLite's true values of a boolean URI parameter (``immutable=1``).
_SQLITE_TRUE = frozenset({"1", "yes", "true", "on"})


def in_memory(url: str) -> bool:
    """Whether ``url`` names a SQLite database in memory, gone when the process ends
    (``sqlite://``, ``file::memory:``, ``mode=memory``, ...)."""
    try:
        parsed = _parse(url)
        return parsed.get_backend_name() == "sqlite" and _sqlite_file(parsed).path is None
    except ConfigurationError:  # refused, and said why, when it is opened
        return False


def open_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url`` (``sqlite:///file`` or ``postgresql://...``).

    Without ``create``, a SQLite file that does not exist is ``NotFound`` instead of a
    new empty database: a mistyped path must not look like a node with no events.
    """
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _check_driver(parsed)
        file = _sqlite_file(parsed)
        _check_sqlite_file(file, create=create)
        return _sqlite_engine(url, in_memory=file.path is None)
    if backend == "postgresql":
        _check_driver(parsed)
        _check_postgresql_query(parsed)
        _check_postgresql_parts(url, parsed)
        parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            engine = create_engine(parsed, pool_pre_ping=True)
        except ArgumentError:  # the query's hosts and ports, which SQLAlchemy pairs up
            raise ConfigurationError(
                "database URL: its host and port parameters do not pair up: give "
                "host=H1,H2&port=P1,P2 or host=H1:P1&host=H2:P2, each port a number"
            ) from None
        except NoSuchModuleError as exc:  # pragma: no cover - psycopg is a dependency
            raise ConfigurationError(f"PostgreSQL driver missing: {exc}") from None
        # After the pairing, which refuses a port that is no number at all: nothing is
        # connected to yet, so the engine holds nothing to release.
        _check_query_ports(parsed.normalized_query)
        return engine
    raise ConfigurationError(
        f"database backend {backend!r} is not supported; use sqlite:/// or postgresql://"
    )


# The checks below quote the names of a URL's parts, never their values (nor the URL):
# a PostgreSQL URL may hold a password, and a URL read wrongly may put some of it in
# another part ('postgresql://user:secret/db' has the port 'secret').


def _parse(url: str) -> URL:
    """``url`` as SQLAlchemy reads it, or refused in one line saying what is wrong."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(f"database URL is not valid; {_EXPECTED}") from None
    except ValueError:  # make_url's int() of the text after the host's ':'
        raise ConfigurationError(_unreadable_port(url)) from None
    if any(end in url.partition("?")[2] for end in "\r\n"):  # make_url stops at it
        raise ConfigurationError(
            "database URL: its query holds a line break, after which nothing would be read"
        )
    return parsed


def _check_port(port: str, message: str) -> None:
    """Refuse a port that is not 1 to 65535 in ASCII digits: ``int()`` also takes
    '1_000', ' 5432', '+5432' and other scripts' digits, and libpq takes 0 for its
    default port."""
    number = port.lstrip("0")  # and no int() of thousands of digits, which it refuses
    if not (port.isascii() and port.isdigit() and 0 < len(number) <= 5 and int(number) < 65536):
        raise ConfigurationError(message)


def _unreadable_port(url: str) -> str:
    """Why make_url found no number after the host: an IPv6 address whose '[' has no ']',
    or that does not start the host ('x[::1]'), so that its colons were read as the
    port's, or a port that is not digits."""
    host = url.partition("://")[2].partition("?")[0].rpartition("@")[2].partition("/")[0]
    if "[" in host and "]" not in host:
        return (
            "database URL: the IPv6 address of its host has no closing ']' "
            "(postgresql://USER@[ADDRESS]:PORT/DB)"
        )
    if "[" in host and not host.startswith("["):
        return _BRACKETED
    return _BAD_PORT


def _parameter(name: str) -> str:
    """A query parameter as a message names it: by its name if that is a word, as every
    parameter's is; other text may be part of a password ('postgresql://a?b:secret@h')."""
    if _WORD.fullmatch(name):
        return f"query parameter {name!r}"
    return "a query parameter whose name is not a word (not shown)"


def _check_driver(parsed: URL) -> None:
    if parsed.drivername not in _DRIVERS:
        raise ConfigurationError(
            f"database URL: driver {parsed.get_driver_name()!r} is not supported; {_EXPECTED}"
        )


def _sqlite_uri_mode(parsed: URL) -> bool:
    """Whether a SQLite URL names its file as a SQLite URI (``uri=true``); any query
    parameter but SQLite's URI parameters, which only that mode takes, is refused."""
    query = dict(parsed.query)
    try:
        uri = asbool(_single(query.pop("uri", "false"), "uri"))
    except ValueError:
        raise ConfigurationError(
            "database URL: query parameter 'uri' must be true or false"
        ) from None
    refused = sorted(set(query) - _SQLITE_URI_PARAMETERS) if uri else sorted(query)
    if refused:
        raise ConfigurationError(
            f"database URL: {_parameter(refused[0])} is not supported for SQLite "
            "(cardtrace sets the connection's options itself; with uri=true, SQLite's URI "
            f"parameters {', '.join(sorted(_SQLITE_URI_PARAMETERS))} are passed on)"
        )
    for name, value in query.items():
        _single(value, name)
    return uri


class _SqliteFile(NamedTuple):
    """The file a SQLite URL opens, as SQLite reads the URL."""

    #: None: a database in memory, or the private temporary one SQLite makes of an
    #: empty name; either is gone when its connection closes.
    path: Path | None
    #: The URI parameter with which SQLite opens only a file that exists (``mode=ro``).
    existing_only: str | None = None


def _sqlite_file(parsed: URL) -> _SqliteFile:
    if any(
        part is not None for part in (parsed.username, parsed.password, parsed.host, parsed.port)
    ):
        # SQLAlchemy refuses them only when the engine is made, and reads the path after
        # a host as relative ('sqlite://localhost/tmp/a.db' is tmp/a.db).
        raise ConfigurationError(
            "database URL: a SQLite URL names a file, with no host, port or user before it: "
            "sqlite:///RELATIVE/PATH or sqlite:////ABSOLUTE/PATH"
        )
    name = parsed.database or ""
    if "\x00" in name:  # the driver raises ValueError
        raise ConfigurationError(
            "database URL: the SQLite file name holds a NUL character (%00), which no file name can"
        )
    uri = _sqlite_uri_mode(parsed)
    if not (uri and name.startswith("file:")):
        if uri and len(parsed.query) > 1:
            # SQLite reads a name that is not a URI as a file name, the URI parameters
            # SQLAlchemy appends to it included: 'a.db?mode=ro' made a file of that name.
            raise ConfigurationError(
                "database URL: with uri=true and SQLite's URI parameters, name the file "
                "as a SQLite URI (sqlite:///file:PATH?uri=true&...)"
            )
        return _SqliteFile(None if name in _IN_MEMORY else Path(name))
    path = _sqlite_uri_path(name)
    query = parsed.query  # one value per name: _sqlite_uri_mode refused repeats
    if path in _IN_MEMORY or query.get("mode") == "memory" or query.get("vfs") == "memdb":
        return _SqliteFile(None)
    return _SqliteFile(Path(path), _existing_only(query))


def _sqlite_uri_path(uri: str) -> str:
    """The file path of a SQLite URI (``file:PATH``, ``file:///PATH``), decoded as SQLite
    decodes it (https://sqlite.org/uri.html): ``%HH`` escapes, no fragment, and no host
    but ``localhost``."""
    path = uri.removeprefix("file:").partition("#")[0]
    if path.startswith("//"):
        host, slash, rest = path.removeprefix("//").partition("/")
        if host not in {"", "localhost"}:
            raise ConfigurationError(
                "database URL: a SQLite URI names a file on this machine: file:PATH or "
                "file:///PATH, with no host but localhost"
            )
        path = slash + rest
    return unquote(path, errors="surrogateescape")


def _existing_only(query: Any) -> str | None:
    """The URI parameter with which SQLite does not create a missing file, if any."""
    mode = query.get("mode")
    if mode in {"ro", "rw"}:
        return f"mode={mode}"
    immutable = query.get("immutable")
    if immutable is not None and immutable.lower() in _SQLITE_TRUE:
        return f"immutable={immutable}"
    return None


def _check_sqlite_file(file: _SqliteFile, *, create: bool) -> None:
    """Refuse a folder, a missing file that is not to be created or that SQLite would not
    create, and a new file in a folder that is not there (SQLite makes no folder) or in
    which no file can be made: for each SQLite would say only 'unable to open database
    file', naming no path nor why."""
    if file.path is None:
        return
    found = _found_at(file.path)
    if found == "folder":
        raise ConfigurationError(f"cannot open the SQLite database {file.path}: it is a folder")
    if found is not None:
        return
    if file.existing_only is not None:
        raise NotFound(
            f"no database at {file.path}; with {file.existing_only} SQLite opens only a file "
            "that exists: name another with --db or CARDTRACE_DATABASE_URL"
        )
    if not create:
        raise NotFound(
            f"no database at {file.path}; 'cardtrace ingest' creates one, or name another "
            "with --db or CARDTRACE_DATABASE_URL"
        )
    folder = file.path.parent
    found = _found_at(folder)
    if found != "folder":
        reason = "does not exist" if found is None else "is not a folder"
        raise ConfigurationError(
            f"cannot create the SQLite database {file.path}: its folder {folder} {reason}"
        )
    try:
        make_a_file_in(folder)  # else SQLite's 'unable to open database file' says no more
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the SQLite database {file.path}: {exc.strerror}"
        ) from None


def _found_at(path: Path) -> str | None:
    """What is at ``path``: "folder", "file" (anything else), or None (nothing)."""
    try:
        if path.is_dir():
            return "folder"
        return "file" if path.exists() else None
    except OSError as exc:  # a name too long, a folder that cannot be searched
        raise ConfigurationError(
            f"cannot open the database {path}: {exc.strerror or exc}"
        ) from None


def _check_postgresql_query(parsed: URL) -> None:
    """Refuse any query parameter but libpq's connection parameters: psycopg would take
    some other names (``prepare_threshold``, ``autocommit``) as its own arguments, and
    fail on their text."""
    for name, value in parsed.query.items():
        if name not in _libpq_parameters():
            raise ConfigurationError(
                f"database URL: {_parameter(name)} is not a PostgreSQL connection "
                "parameter (https://www.postgresql.org/docs/current/libpq-connect.html)"
            )
        if name != "host":  # several hosts, tried in turn, are several host parameters
            _single(value, name)


def _check_postgresql_parts(url: str, parsed: URL) -> None:
    """Refuse what psycopg would fail on only when it connects, with an internal error or
    none: text that is not UTF-8, a NUL (libpq reads up to it and drops the rest of the
    connection string: another database, no host), and a host no lookup can take, or
    that SQLAlchemy reads otherwise than libpq."""
    parts = {
        "user name": parsed.username,
        "password": parsed.password,
        "host": parsed.host,
        "database name": parsed.database,
    }
    for part, value in parts.items():
        _check_libpq_text(part, value or "")
    query = parsed.normalized_query  # every value of a name, as a tuple
    for name, values in query.items():
        for value in values:
            _check_libpq_text(_parameter(name), value)
    if "%" in (parsed.host or ""):
        # libpq decodes %HH in the URL's host ('%2Fvar%2Frun' is a socket's folder);
        # SQLAlchemy hands it on as it is, to be looked up as a name.
        raise ConfigurationError(
            "database URL: its host holds a %-escape, which is not decoded there: give a "
            "socket's folder or a scoped IPv6 address as ?host="
        )
    _check_libpq_reads_alike(url, parsed)
    hosts = [*(parsed.host or "").split(","), *(host for host, _ in _query_hosts(query))]
    for host in hosts:
        _check_host_name(host)


def _check_libpq_reads_alike(url: str, parsed: URL) -> None:
    """Refuse a URL whose user, host, port or database libpq (psycopg's
    ``conninfo_to_dict``) reads otherwise than SQLAlchemy did, or cannot read: SQLAlchemy
    stops quietly where it cannot go on ('postgresql://[::1]x:6543/cards' lost its port
    and database) and takes for a port what ``int()`` takes ('1_000', '+5432', digits
    of other scripts), and the engine connects with what SQLAlchemy read."""
    head = "postgresql://" + url.partition("?")[0].partition("://")[2]
    _check_libpq_text("text before its query", head)  # where SQLAlchemy may have stopped
    written = _written_port(head)
    if written is not None:
        _check_port(written, _BAD_PORT)  # as written: libpq reads ' 5432' as 5432
    try:
        read = {key: str(value) for key, value in conninfo_to_dict(head).items()}
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(_libpq_refusal(str(exc))) from None
    port = read.get("port", "")
    for each in port.split(","):
        if each:
            _check_port(each, _BAD_PORT)
    readings = {
        "user name": (parsed.username, read.get("user")),
        "host": (parsed.host, read.get("host")),
        "port": (parsed.port, int(port) if port.isdigit() else port or None),
        "database name": (parsed.database, read.get("dbname")),
    }
    differ = [part for part, (ours, libpq) in readings.items() if (ours or None) != libpq]
    if differ:
        parts = ", ".join(differ[:-1]) + (" and " if len(differ) > 1 else "") + differ[-1]
        raise ConfigurationError(
            f"database URL: SQLAlchemy and libpq would read its {parts} differently; "
            "several hosts go in ?host=H1,H2&port=P1,P2"
        )


def _written_port(head: str) -> str | None:
    """The port written after the (last) host of a URL without its query, if any."""
    authority = head.partition("://")[2].partition("/")[0].rpartition("@")[2]
    after = authority.rpartition("]")[2] if authority.startswith("[") else authority
    return after.rpartition(":")[2] if ":" in after else None


def _libpq_refusal(reason: str) -> str:
    """libpq's reason for not reading a URL, without the URL it quotes, nor its text."""
    if reason.startswith("unexpected character"):
        return (
            "database URL: its host is followed by text that is not :PORT, / or ? "
            "(postgresql://USER@[ADDRESS]:PORT/DB)"
        )
    if reason.startswith("end of string reached when looking for matching"):
        return (
            "database URL: the IPv6 address of its host has no closing ']' "
            "(postgresql://USER@[ADDRESS]:PORT/DB)"
        )
    if reason.startswith("IPv6 host address may not be empty"):
        return "database URL: its host is an empty IPv6 address, []"
    return f"database URL: the driver cannot read it; {_EXPECTED}"


def _query_hosts(query: Mapping[str, Sequence[str]]) -> list[tuple[str, str | None]]:
    """Each host of the query's host parameters, with the port written after it where
    SQLAlchemy splits one off (and None where it does not): in a host parameter given
    more than once, and in one given once, alone, without a port parameter and with one
    ':' (an IPv6 address has more)."""
    values = query.get("host", ())
    if len(values) > 1:
        return [_host_and_port(value) for value in values]
    hosts = [host for value in values for host in value.split(",")]
    if len(hosts) == 1 and "port" not in query and hosts[0].count(":") == 1:
        host, _, port = hosts[0].partition(":")
        return [(host, port)]
    return [(host, None) for host in hosts]


def _host_and_port(value: str) -> tuple[str, str | None]:
    """One of several host parameters, split as SQLAlchemy does, at every ':' (an IPv6
    address raised ValueError) and not at ',' (which libpq would read as more hosts than
    ports)."""
    if value.count(":") > 1 or "," in value:
        raise ConfigurationError(
            "database URL: a host parameter given more than once is HOST or HOST:PORT, one "
            "each; give IPv6 addresses as host=A1,A2&port=P1,P2"
        )
    host, colon, port = value.partition(":")
    return host, port if colon else None


def _check_query_ports(query: Mapping[str, Sequence[str]]) -> None:
    """Refuse a port of the query that SQLAlchemy's ``int()`` took but that is not one;
    an empty one in a list of ports is libpq's default port for its host."""
    ports = [port for value in query.get("port", ()) for port in value.split(",") if port]
    ports += [port for _, port in _query_hosts(query) if port is not None]
    for port in ports:
        _check_port(port, _BAD_QUERY_PORT)


def _check_libpq_text(part: str, value: str) -> None:
    try:
        value.encode()
    except UnicodeEncodeError:  # bytes that were not UTF-8, kept as surrogates
        raise ConfigurationError(f"database URL: its {part} is not UTF-8 text") from None
    if "\x00" in value:
        raise ConfigurationError(
            f"database URL: its {part} holds a NUL character (%00), which PostgreSQL cannot take"
        )


def _check_host_name(host: str) -> None:
    """Refuse a host name psycopg would look up and fail on with an internal error (the
    lookup's IDNA encoding raises ``UnicodeError``), or that SQLAlchemy read from text
    libpq reads otherwise ('[::1]]', '[]'); a path names a socket's folder."""
    if not host or host.startswith("/"):
        return
    if "[" in host or "]" in host:
        raise ConfigurationError(_BRACKETED)
    if ":" in host:  # only an IPv6 address holds one
        _check_ipv6_address(host)
        return
    try:
        host.encode("idna")
    except UnicodeError:
        raise ConfigurationError(
            "database URL: a host it names is not a valid host name (a part between dots "
            "is empty or over 63 characters, or holds a character host names cannot)"
        ) from None


def _check_ipv6_address(host: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise ConfigurationError(
            "database URL: a host it names holds a ':' but is not an IPv6 address (a port "
            "goes after the host: HOST:PORT, or [ADDRESS]:PORT)"
        ) from None


def _single(value: str | tuple[str, ...], name: str) -> str:
    if isinstance(value, tuple):
        raise ConfigurationError(f"database URL: query parameter {name!r} is given twice")
    return value


@cache
def _libpq_parameters() -> frozenset[str]:
    """The connection parameters of the libpq psycopg runs on (sslmode, connect_timeout...)."""
    return frozenset(option.keyword.decode() for option in psycopg.pq.Conninfo.get_defaults())


def _sqlite_engine(url: str, *, in_memory: bool) -> Engine:
    # One connection per thread for a database in memory, which each new connection
    # would otherwise make anew and empty; SQLAlchemy's own choice of it from the URL
    # is deprecated for 'mode=memory'.
    engine = create_engine(url, poolclass=SingletonThreadPool if in_memory else QueuePool)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        if _ours_or_empty(dbapi_connection):
            # Both are kept in the file, so another program's database (refused when its
            # schema is read) is left as it is. 16 KiB pages for new files: an event row
            # is ~1 KiB and a tile 8 KiB, and bigger pages cut ingest time by ~8%
            # (docs/performance.md). Before WAL, because a WAL database's page size can
            # no longer change.
            dbapi_connection.execute("PRAGMA page_size=16384")
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
        for pragma in (
            "synchronous=NORMAL",
            "busy_timeout=30000",
            "foreign_keys=ON",
            f"cache_size=-{SQLITE_CACHE_KIB}",
            # Checkpoint the WAL every 64 MiB (4,096 pages) instead of every 1,000 pages:
            # each checkpoint syncs, and a 5,000-event batch triggered one (−30% commit).
            "wal_autocheckpoint=4096",
            # Deleted content is overwritten with zeros, so personal data an erasure
            # deleted is gone from the file too (Debian's SQLite does it by default).
            "secure_delete=ON",
            # Sorts (the merge of queued link rows) spill to a temporary file, not to
            # memory: in memory, merging 2M link rows took ~150 MiB more RSS, on disk
            # none, and no longer.
            "temp_store=FILE",
            # Big sorts (that merge again) may sort in helper threads, one per further
            # core: a merge ends an ingest, when the workers have left the cores idle,
            # and 3M link rows merge in ~30 % less time (docs/performance.md).
            f"threads={usable_cores() - 1}",
        ):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        writer = connection.get_execution_options().get("writer", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def _ours_or_empty(connection: sqlite3.Connection) -> bool:
    """Whether a SQLite file holds no tables, or cardtrace's (its migration record)."""
    tables: int
    ours: int
    tables, ours = connection.execute(
        "SELECT count(*), count(*) FILTER (WHERE name = ?) FROM sqlite_master WHERE type = 'table'",
        (VERSION_TABLE,),
    ).fetchone()
    return tables == 0 or ours > 0


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it takes the write lock up front."""
    with engine.connect() as connection:
        connection.execution_options(writer=True)
        with connection.begin():
            yield connection


def describe(exc: BaseException) -> str:
    """A database error in the driver's own words, first line only, for a user; for a
    full disk, also what became of the work and what to do."""
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's exception
    words = str(cause).splitlines()[0]
    if _disk_full(cause):
        words += f" ({_FULL})"
    return words


#: What a full disk means for the command that met it: every write is a transaction.
_FULL = (
    "the transaction under way was undone and those before it are kept; free space "
    "where the database is and run the command again: an ingest stores only what is "
    "missing"
)


def _disk_full(error: BaseException) -> bool:
    """SQLite's SQLITE_FULL (the disk, or the database's page limit) or PostgreSQL's
    disk_full (SQLSTATE 53100)."""
    if isinstance(error, sqlite3.Error):
        return error.sqlite_errorcode == sqlite3.SQLITE_FULL
    return isinstance(error, psycopg.errors.DiskFull)
