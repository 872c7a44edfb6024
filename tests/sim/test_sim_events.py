"""Every event in the node files validates against cardtrace.domain.events, except the
ones the truth lists as deliberately invalid; the identifiers inside are well formed."""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from stdnum import luhn
from stdnum.cn import ric

from cardtrace.domain.events import EVENT_NAMESPACE, event_adapter, event_id_for
from cardtrace.domain.identifiers import luhn_check_digit, resident_id_check_digit
from cardtrace.sim import ANONYMISING_NETWORKS, WorldSummary, read_truth
from cardtrace.sim._ids import luhn_digit, mod11_2_digit
from cardtrace.sim._steps import _EVENT_NAMESPACE, event_id


def _rejected(out: Path) -> set[tuple[str, str]]:
    return {(r.node_id, r.source_id) for t in read_truth(out) for r in t.rejected}


def test_every_event_is_stored_except_the_listed_invalid(
    world: tuple[Path, WorldSummary], world_events: list[dict[str, Any]]
) -> None:
    out, summary = world
    adapter = event_adapter()
    expected = _rejected(out)
    failed: set[tuple[str, str]] = set()
    for event in world_events:
        try:
            refused = adapter.validate_python(event).refusal() is not None
        except ValidationError:
            refused = True
        if refused:
            failed.add((event["node_id"], event["source_id"]))
    assert failed == expected
    assert len(expected) == summary.rejected


def test_times_are_ordered_and_inside_the_world(world_events: list[dict[str, Any]]) -> None:
    for event in world_events:
        assert event["recorded_at"] >= event["occurred_at"]
        assert event["occurred_at"].endswith("+08:00")
        if event["type"] != "subscriber.registered":
            assert "2025-01-01" <= event["occurred_at"] < "2026-01-01"


def test_identifiers_are_well_formed(world_events: list[dict[str, Any]]) -> None:
    kinds: Counter[str] = Counter()
    for event in world_events:
        if event["type"] == "subscriber.registered":
            assert event["imsi"].startswith("460")
            assert event["iccid"].startswith("8986")
            assert luhn.is_valid(event["iccid"])
            kinds[event["number_type"]] += 1
            if "subject_id_number" in event:
                assert ric.is_valid(event["subject_id_number"])
        if event["type"] == "card.redeemed" and len(event["target_msisdn"]) == 13:
            kinds["redeemed_iot"] += 1
    assert {"personal", "mvno", "iot", "redeemed_iot"} <= set(kinds)


def test_check_digits_agree_with_the_domain_module() -> None:
    for first17 in ("11010519491231002", "34052419800101001", "44030619991231123"):
        assert mod11_2_digit(first17) == resident_id_check_digit(first17)
    for payload in ("8986007031011209432", "6222021234567890", "79927398713"):
        assert luhn_digit(payload) == luhn_check_digit(payload)


def test_event_ids_use_the_domain_namespace() -> None:
    assert _EVENT_NAMESPACE == EVENT_NAMESPACE
    assert event_id("plat-03", "PL03-000000001") == event_id_for("plat-03", "PL03-000000001")


def test_anonymising_addresses_come_only_from_the_documented_networks(
    world: tuple[Path, WorldSummary], world_events: list[dict[str, Any]]
) -> None:
    out, _ = world
    networks = [ipaddress.ip_network(n) for n in ANONYMISING_NETWORKS]
    flagged = {
        (b.node_id, b.source_id)
        for t in read_truth(out)
        for b in t.breakpoints
        if b.reason == "anonymising_network"
    }
    assert flagged
    for event in world_events:
        ip = event.get("ip") or event.get("requester_ip")
        if ip is None:
            continue
        hidden = any(ipaddress.ip_address(ip) in n for n in networks)
        key = (event["node_id"], event["source_id"])
        if key in flagged:
            assert hidden
        if event["type"] == "pin.verified" and event["result"] == "valid" and hidden:
            assert key in flagged


def test_destroyed_records_leave_numbered_gaps(
    world: tuple[Path, WorldSummary], world_events: list[dict[str, Any]]
) -> None:
    _, summary = world
    kept = [e for e in world_events if e["node_id"] == "shop-05"]
    assert kept
    assert all(e["recorded_at"] >= "2025-10-01" for e in kept)
    destroyed = sum(summary.destroyed_by_node["shop-05"].values())
    assert destroyed
    numbers = [int(e["source_id"].rsplit("-", 1)[1]) for e in kept]
    # the node numbered every record it made: the destroyed ones are the gaps
    assert set(numbers) < set(range(1, len(numbers) + destroyed + 1))


def test_every_old_pin_verification_of_the_retention_platform_is_erased(
    world: tuple[Path, WorldSummary], world_events: list[dict[str, Any]]
) -> None:
    out, _ = world
    erased_ids = {e["target_event_id"] for e in world_events if e["type"] == "record.erased"}
    logs = [e for e in world_events if e["node_id"] == "plat-03" and e["type"] == "pin.verified"]
    erased = {
        (e["node_id"], e["source_id"])
        for e in logs
        if event_id_for(e["node_id"], e["source_id"]) in erased_ids
    }
    # verified before July: 180 days on, the erasure still falls inside 2025
    old = [e for e in logs if e["occurred_at"] < "2025-07-01"]
    assert {e["result"] for e in old} == {"valid", "used"}
    assert {(e["node_id"], e["source_id"]) for e in old} <= erased
    expired = {
        (b.node_id, b.source_id)
        for t in read_truth(out)
        for b in t.breakpoints
        if b.reason == "retention_expired"
    }
    assert expired == erased
