"""Event ids (deterministic RFC 4122 version-5 UUIDs of a node's own record id), and
event times, which are read as written or refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

import factories as make
from cardtrace.domain.events import (
    EVENT_NAMESPACE,
    event_adapter,
    event_id_bytes,
    event_id_text,
)


@given(st.text(max_size=30), st.text(max_size=30))
def test_event_ids_are_rfc4122_uuid5(node_id: str, source_id: str) -> None:
    expected = uuid.uuid5(EVENT_NAMESPACE, f"{node_id}\n{source_id}")
    assert event_id_bytes(node_id, source_id) == expected.bytes
    assert event_id_text(expected.bytes) == str(expected)


def read_time(text: object) -> datetime:
    """``occurred_at`` as an event reads it."""
    event = event_adapter().validate_python(make.card_sold(occurred_at=text, recorded_at=text))
    return event.occurred_at


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2025-05-01T10:00:00.123456+08:00", datetime(2025, 5, 1, 2, 0, 0, 123456, UTC)),
        ("2025-05-01T10:00:00.5Z", datetime(2025, 5, 1, 10, 0, 0, 500000, UTC)),
        ("2025-05-01T10:00:00,5-03:30", datetime(2025, 5, 1, 13, 30, 0, 500000, UTC)),
        ("2025-05-01T10:00:00+05:45", datetime(2025, 5, 1, 4, 15, tzinfo=UTC)),
        ("2025-05-01T10:00:00+08:07", datetime(2025, 5, 1, 1, 53, tzinfo=UTC)),  # not a 1/4 h
        ("2025-05-01T10:00:00+08:00:00", datetime(2025, 5, 1, 2, 0, tzinfo=UTC)),
        ("2025-05-01T100000.123456+0800", datetime(2025, 5, 1, 2, 0, 0, 123456, UTC)),
        ("2025-W18-4T10:00:00.25+08:00", datetime(2025, 5, 1, 2, 0, 0, 250000, UTC)),
        ("2025-05-01T10:00+08", datetime(2025, 5, 1, 2, 0, tzinfo=UTC)),
    ],
)
def test_times_are_read_as_written_in_every_iso_8601_layout_accepted(
    text: str, moment: datetime
) -> None:
    assert read_time(text) == moment


@pytest.mark.parametrize(
    "time",
    [
        "2025-05-01T10:00:00+08:00:30",
        "2025-05-01T10:00:00.5+080030",
        "2025-05-01T10:00:00-00:00:30",
        "2025-05-01T10:00:00+08:00:00.000001",
        datetime(2025, 5, 1, 10, tzinfo=timezone(timedelta(hours=8, seconds=30))),
    ],
)
def test_a_utc_offset_with_seconds_is_refused_not_applied(time: object) -> None:
    with pytest.raises(ValidationError, match="UTC offset must be whole minutes"):
        read_time(time)


@pytest.mark.parametrize(
    "text",
    [
        "2025-05-01T10:00:00.123456789+08:00",
        "2025-05-01T10:00:00.1234567Z",
        "2025-05-01T10:00:00.0000000Z",  # even where the digits dropped are zeros
        "2025-05-01T10:00:00,1234567+08:00",
        "2025-05-01T100000.1234567+0800",
        "2025-W18-4T10:00:00.1234567+08:00",
        "2025-05-01T10:00:00.1234567 +08:00",
    ],
)
def test_more_than_six_fractional_digits_are_refused_not_truncated(text: str) -> None:
    with pytest.raises(ValidationError, match=r"keeps microseconds \(at most six fractional"):
        read_time(text)


@pytest.mark.parametrize(
    "text",
    ["2025-05-01T10.5+08:00", "2025-05-01T10:00.5+08:00", "2025-05-01T1000.5+08:00"],
)
def test_a_fraction_of_an_hour_or_minute_is_refused_not_read_as_one_of_a_second(
    text: str,
) -> None:
    with pytest.raises(ValidationError, match="fraction of an hour or minute"):
        read_time(text)


whole_minute_zones = st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(datetime(1000, 1, 2), datetime(9999, 12, 30), timezones=whole_minute_zones)


@given(moments, st.sampled_from(["seconds", "milliseconds", "microseconds"]), st.booleans())
def test_a_time_in_any_whole_minute_offset_is_read_as_the_moment_written(
    moment: datetime, timespec: str, basic_offset: bool
) -> None:
    text = moment.isoformat(timespec=timespec)
    if basic_offset:  # +08:00 as +0800
        text = text[:-3] + text[-2:]
    shown = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    expected = {"seconds": moment.replace(microsecond=0), "milliseconds": shown}
    assert read_time(text) == expected.get(timespec, moment)


@given(moments, st.text("0123456789", min_size=1, max_size=6))
def test_a_seventh_fractional_digit_is_always_refused(moment: datetime, more: str) -> None:
    text = moment.isoformat(timespec="microseconds")
    with pytest.raises(ValidationError, match="at most six fractional digits"):
        read_time(text[:26] + more + text[26:])


@given(moments, st.integers(1, 59))
def test_an_offset_with_seconds_is_always_refused(moment: datetime, seconds: int) -> None:
    text = moment.isoformat() + f":{seconds:02d}"
    with pytest.raises(ValidationError, match="UTC offset must be whole minutes"):
        read_time(text)


@pytest.mark.parametrize(
    ("order_ref", "refused"),
    [("A12345678", None), ("12345678", "order_ref"), ("ORDER-1", None)],
)
def test_a_short_pin_inside_a_longer_clear_value_is_taken_for_chance(
    order_ref: str, refused: str | None
) -> None:
    # cmcc-zhejiang PINs have 8 digits: inside a longer value they are likely chance.
    record = make.card_sold(
        issuer="cmcc-zhejiang", serial="1" * 10, pin="12345678", order_ref=order_ref
    )
    refusal = event_adapter().validate_python(record).refusal()
    assert (refusal and refusal[0]) == refused


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"source_id": "R-1380013"},  # a part of the phone number too short to be it
        {"premises_id": "alipay"},  # a payment account's scheme alone is no account
        {"cctv_clip": "clip-7", "source_id": "clip-7-r"},  # a short reference inside another
        {"premises_id": "-", "seller_account": "-x"},  # nothing left but a hyphen
    ],
)
def test_clear_fields_that_hold_no_hidden_value_are_kept(fields: dict[str, str]) -> None:
    record = event_adapter().validate_python(make.card_recycled(**fields))
    assert record.refusal() is None


def test_an_empty_hidden_value_is_held_by_no_clear_field() -> None:
    record = make.card_sold(type="pin.verified", result="valid", submitter_account="u1")
    for name in ("price_fen", "payment_method", "payment_account", "merchant_id"):
        del record[name]
    event = event_adapter().validate_python({**record, "user_agent": "", "source_id": "-"})
    assert event.refusal() is None
