"""Event ids: deterministic RFC 4122 version-5 UUIDs of a node's own record id."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from cardtrace.domain.events import EVENT_NAMESPACE, event_id_bytes, event_id_text


@given(st.text(max_size=30), st.text(max_size=30))
def test_event_ids_are_rfc4122_uuid5(node_id: str, source_id: str) -> None:
    expected = uuid.uuid5(EVENT_NAMESPACE, f"{node_id}\n{source_id}")
    assert event_id_bytes(node_id, source_id) == expected.bytes
    assert event_id_text(expected.bytes) == str(expected)
