"""The canonical byte encoding of a record: what the ledger hashes and a court re-hashes.

The encoding is RFC 8785 (JSON Canonicalization Scheme) over a restricted value domain,
so any JCS implementation reproduces it byte for byte:

* objects with ASCII keys, sorted (code-point, UTF-8 and UTF-16 orders agree for ASCII);
* strings as UTF-8, escaping only ``"``, ``\\`` and control characters (``\\b \\f \\n \\r \\t``,
  others as lower-case ``\\u00xx``);
* integers only, within ±(2**53 - 1): amounts are fen, never floats;
* ``true``, ``false``, ``null`` and arrays; no insignificant whitespace;
* times are strings, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC (see :func:`format_time`).

Anything else (a float, a non-ASCII key, a datetime object) is refused, so the same
record can never encode two ways. See docs/canonical-encoding.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

__all__ = [
    "MAX_SAFE_INTEGER",
    "canonical_bytes",
    "canonical_bytes_of_valid",
    "format_time",
    "format_us",
]

MAX_SAFE_INTEGER = 2**53 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_time(value: datetime) -> str:
    """A timezone-aware time as the canonical UTC string with microseconds."""
    if value.tzinfo is None:
        raise ValueError("canonical times must be timezone-aware")
    if value.tzinfo is not UTC:  # validated event times are UTC already
        value = value.astimezone(UTC)
    # Twice as fast as isoformat(timespec=...) and several times faster than strftime;
    # it runs twice per event on the ingest hot path.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - faster than an f-string
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def format_us(micros: int) -> str:
    """Microseconds since 1970 (a stored ``occurred_us``) as a canonical time; a value
    no datetime can hold (only a tampered row has one) as ``N µs``."""
    try:
        return format_time(_EPOCH + timedelta(microseconds=micros))
    except OverflowError:
        return f"{micros} µs"


def canonical_bytes(value: Mapping[str, Any] | list[Any] | str | int | bool | None) -> bytes:
    """The canonical encoding of ``value``; raises ``ValueError`` outside the domain."""
    _check(value, "$")
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def canonical_bytes_of_valid(value: Mapping[str, Any] | list[Any] | str) -> bytes:
    """The canonical encoding of a value known to lie in the domain, without checking it.

    For the ingest hot path, whose values come from validated event models: a test
    (``test_event_models_stay_inside_the_canonical_domain``) proves from the models'
    JSON Schema that no field can hold a float or an integer beyond 2**53 - 1, which is
    what makes skipping the check safe.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _check(value: object, path: str) -> None:
    """Raise ``ValueError`` naming the first value outside the domain.

    Runs on every leaf of the ingest hot path, so exact types are tested first (cheap)
    and subclasses such as ``StrEnum`` members fall through to ``isinstance``.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return
    if kind is dict:
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str or not key.isascii():
                raise ValueError(f"{path}: keys must be ASCII strings, got {key!r}")
            if type(item) is not str and (type(item) is not int or abs(item) > MAX_SAFE_INTEGER):
                _check(item, f"{path}.{key}")
    elif kind is list or kind is tuple:
        for index, item in enumerate(value):  # type: ignore[arg-type]
            _check(item, f"{path}[{index}]")
    elif isinstance(value, int) and not isinstance(value, bool):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"{path}: integer {value} is outside ±(2**53 - 1)")
    elif isinstance(value, Mapping):
        _check(dict(value), path)
    elif not isinstance(value, str | bool):
        raise ValueError(f"{path}: {kind.__name__} has no canonical encoding")
