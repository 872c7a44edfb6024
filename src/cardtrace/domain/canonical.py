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
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["MAX_SAFE_INTEGER", "canonical_bytes", "format_time"]

MAX_SAFE_INTEGER = 2**53 - 1


def format_time(value: datetime) -> str:
    """A timezone-aware time as the canonical UTC string with microseconds."""
    if value.tzinfo is None:
        raise ValueError("canonical times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(value: Mapping[str, Any] | list[Any] | str | int | bool | None) -> bytes:
    """The canonical encoding of ``value``; raises ``ValueError`` outside the domain."""
    _check(value, "$")
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _check(value: object, path: str) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValueError(f"{path}: integer {value} is outside ±(2**53 - 1)")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise ValueError(f"{path}: keys must be ASCII strings, got {key!r}")
            _check(item, f"{path}.{key}")
        return
    raise ValueError(f"{path}: {type(value).__name__} has no canonical encoding")
