"""The canonical encoding: one byte form per value, and nothing outside the domain."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardtrace.domain.canonical import MAX_SAFE_INTEGER, canonical_bytes, format_time

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def jcs_reference(value: Any) -> bytes:
    """JCS for our domain, through the standard library (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@given(values)
def test_matches_a_reference_jcs_encoding(value: Any) -> None:
    assert canonical_bytes(value) == jcs_reference(value)


@given(st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=5), scalars))
def test_key_order_on_input_does_not_matter(value: dict[str, Any]) -> None:
    reversed_order = dict(reversed(list(value.items())))
    assert canonical_bytes(reversed_order) == canonical_bytes(value)


def test_escapes_only_what_jcs_escapes() -> None:
    assert canonical_bytes({"a": 'é"\\\n\x01中'}) == '{"a":"é\\"\\\\\\n\\u0001中"}'.encode()


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": 1.5}, r"\$\.a: float"),
        ({"a": [1, 2**53]}, r"\$\.a\[1\]: integer"),
        ({"ä": 1}, r"\$: keys must be ASCII"),
        ({"t": datetime.now(UTC)}, r"\$\.t: datetime"),
        ({1: "x"}, r"\$: keys must be ASCII"),
    ],
)
def test_values_outside_the_domain_are_refused_with_their_path(value: Any, path: str) -> None:
    with pytest.raises(ValueError, match=path):
        canonical_bytes(value)


def test_times_are_utc_with_six_fraction_digits() -> None:
    beijing = timezone(timedelta(hours=8))
    assert format_time(datetime(2025, 1, 2, 3, 4, 5, tzinfo=beijing)) == (
        "2025-01-01T19:04:05.000000Z"
    )
    assert format_time(datetime(2025, 1, 2, 3, 4, 5, 7, tzinfo=UTC)) == (
        "2025-01-02T03:04:05.000007Z"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2025, 1, 2))


@given(st.datetimes(datetime(1000, 1, 2), datetime(9999, 12, 30), timezones=st.timezones()))
def test_time_format_matches_the_iso_format_of_the_same_moment_in_utc(moment: datetime) -> None:
    reference = moment.astimezone(UTC).isoformat(timespec="microseconds")
    assert format_time(moment) == reference.removesuffix("+00:00") + "Z"


def _schema_nodes(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for child in node.values():
            yield from _schema_nodes(child)
    elif isinstance(node, list):
        for child in node:
            yield from _schema_nodes(child)


def test_event_models_stay_inside_the_canonical_domain() -> None:
    """No event field can hold a float or an unsafe integer: ingest may skip the check."""
    from cardtrace.domain.events import event_adapter

    nodes = list(_schema_nodes(event_adapter().json_schema()))
    assert not [n for n in nodes if n.get("type") == "number"]
    integers = [n for n in nodes if n.get("type") == "integer"]
    assert integers
    for node in integers:
        low = node.get("minimum", node.get("exclusiveMinimum", -(2**63)))
        high = node.get("maximum", node.get("exclusiveMaximum", 2**63))
        assert -MAX_SAFE_INTEGER <= low <= high <= MAX_SAFE_INTEGER, node
