"""The truth file: its model, its consistency with the node files, what it must not hold."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, get_args

import pytest

from cardtrace.sim import (
    BREAK_REASONS,
    TRUTH_FILE,
    TruthRecord,
    Typology,
    WorldSummary,
    read_truth,
)
from cardtrace.sim._flows import CARD_SHARE
from cardtrace.sim._world import TYPOLOGIES

_TYPOLOGIES = {"T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9"}


def test_the_typologies_are_the_same_everywhere() -> None:
    # the truth's values, the scenarios' shares and the rings built for them
    assert set(get_args(Typology)) == _TYPOLOGIES
    assert set(CARD_SHARE) == {None, *_TYPOLOGIES}
    assert set(TYPOLOGIES) == _TYPOLOGIES
    assert sum(share for share, _ in CARD_SHARE.values()) == pytest.approx(1.0)


def test_every_typology_is_present_and_honest_flows_dominate(
    world: tuple[Path, WorldSummary],
) -> None:
    out, summary = world
    counted = Counter(t.typology or "honest" for t in read_truth(out))
    assert counted == summary.cards_by_typology
    assert set(counted) == {"honest", *_TYPOLOGIES}
    # within 5 points of the honest share the world is built for, and far ahead of any
    # typology's
    assert abs(counted["honest"] / summary.cards - CARD_SHARE[None][0]) <= 0.05
    assert counted["honest"] > 10 * max(n for t, n in counted.items() if t != "honest")
    assert all(t.ring for t in read_truth(out) if t.typology)
    stolen = {"T1", "T2", "T3", "T5", "T8"}
    assert all(t.stolen_funds for t in read_truth(out) if t.typology in stolen)
    assert not any(t.stolen_funds for t in read_truth(out) if t.typology is None)


def test_every_reason_code_occurs(world: tuple[Path, WorldSummary]) -> None:
    out, summary = world
    reasons = Counter(b.reason for t in read_truth(out) for b in t.breakpoints)
    assert set(reasons) == set(BREAK_REASONS)
    assert reasons == summary.breakpoints


def test_hops_point_at_events_that_exist(
    world: tuple[Path, WorldSummary], world_events: list[dict[str, Any]]
) -> None:
    out, _ = world
    written = {(e["node_id"], e["source_id"]): e["type"] for e in world_events}
    for truth in read_truth(out):
        assert truth.hops[0].kind == "sold"
        assert truth.hops[-1].kind == "redeemed"
        for hop in truth.hops:
            for ref in hop.events:
                key = (ref.node_id, ref.source_id)
                if ref.present:
                    assert written[key] == ref.type
                else:
                    assert key not in written
        destroyed = {
            (ref.node_id, ref.source_id)
            for hop in truth.hops
            for ref in hop.events
            if not ref.present
        }
        for mark in truth.breakpoints:
            assert 0 <= mark.hop < len(truth.hops)
            key = (mark.node_id or "", mark.source_id or "")
            if mark.reason == "data_destroyed":
                assert key in destroyed
            elif mark.source_id is not None:
                assert key in written or key in destroyed


def test_hops_agree_with_the_events_they_cite(
    world: tuple[Path, WorldSummary], world_events: list[dict[str, Any]]
) -> None:
    out, _ = world
    by_key = {(e["node_id"], e["source_id"]): e for e in world_events}
    for truth in read_truth(out):
        redeemed = truth.hops[-1].events[0]
        event = by_key[redeemed.node_id, redeemed.source_id]
        assert event["target_msisdn"] == truth.users.redeem_msisdn
        assert event["serial"] == truth.serial
        assert event["face_value"] == truth.face_value
        assert event["issuer"] == truth.issuer
        for hop in truth.hops:
            if hop.kind == "transferred":
                for ref in hop.events:
                    if ref.present:
                        cited = by_key[ref.node_id, ref.source_id]
                        assert (cited["from_party"], cited["to_party"]) == (
                            hop.from_party,
                            hop.to_party,
                        )


def test_truth_holds_serials_but_no_pin(
    world: tuple[Path, WorldSummary], world_events: list[dict[str, Any]]
) -> None:
    out, _ = world
    pins = {e["pin"] for e in world_events if "pin" in e}
    assert pins
    text = (out / TRUTH_FILE).read_text(encoding="utf-8")
    assert '"pin"' not in text
    assert not pins & set(re.findall(r"\d{16,21}", text))


def test_truth_lines_validate_and_round_trip(world: tuple[Path, WorldSummary]) -> None:
    out, _ = world
    first = next(read_truth(out))
    assert TruthRecord.model_validate_json(first.model_dump_json()) == first
    assert sum(1 for _ in read_truth(out / TRUTH_FILE)) == 2000


def test_hops_are_in_time_order(world: tuple[Path, WorldSummary]) -> None:
    out, _ = world
    for truth in read_truth(out):
        times = [hop.at for hop in truth.hops]
        assert times == sorted(times), truth.card_id


def test_offline_shops_take_cards_with_and_without_real_name_registration(
    world: tuple[Path, WorldSummary], world_events: list[dict[str, Any]]
) -> None:
    out, _ = world
    intakes = [
        e for e in world_events if e["type"] == "card.recycled" and e["channel"] == "offline_shop"
    ]
    assert {e["id_check"] for e in intakes} == {"id_card_ocr", "manual_copy", "none"}
    unregistered = {(e["node_id"], e["source_id"]) for e in intakes if e["id_check"] == "none"}
    for event in intakes:
        if event["id_check"] == "none":
            assert not {"seller_name", "seller_id_number", "seller_msisdn"} & set(event)
    flagged = {
        (b.node_id, b.source_id)
        for t in read_truth(out)
        for b in t.breakpoints
        if b.reason == "unverified_identity"
    }
    assert unregistered <= flagged
