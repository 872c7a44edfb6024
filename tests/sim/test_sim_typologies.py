"""T2 (gift-card PINs handed to a ring), T4 (gamblers' money matched to top-up orders) and
T8 (a recycler fencing proceeds), read back from the truth and the node files of the shared
world."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cardtrace.sim import TruthRecord, WorldSummary, read_truth
from cardtrace.sim._flows import PAYOUT_FLOOR
from cardtrace.sim._world import FENCING_SHOP

Event = dict[str, Any]
_HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def truths(world: tuple[Path, WorldSummary]) -> list[TruthRecord]:
    return list(read_truth(world[0]))


@pytest.fixture(scope="module")
def by_key(world_events: list[Event]) -> dict[tuple[str, str], Event]:
    return {(e["node_id"], e["source_id"]): e for e in world_events}


def _at(event: Event) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


def _cited(truth: TruthRecord, by_key: dict[tuple[str, str], Event], kind: str) -> list[Event]:
    """The present events of type ``kind`` that the card's hops cite, in hop order."""
    return [
        by_key[ref.node_id, ref.source_id]
        for hop in truth.hops
        for ref in hop.events
        if ref.type == kind and ref.present
    ]


Order = tuple[str | None, str, str]  # typology, buyer, time of sale


def _orders_by_account(
    truths: list[TruthRecord], by_key: dict[tuple[str, str], Event]
) -> dict[str, set[Order]]:
    """Every platform account that submitted or sold a card, and the orders (typology,
    buyer, time of sale) of all the cards it ever did."""
    seen: dict[str, set[Order]] = defaultdict(set)
    for truth in truths:
        order = (truth.typology, truth.users.buyer, truth.hops[0].at)
        for event in _cited(truth, by_key, "pin.verified"):
            seen[event["submitter_account"]].add(order)
        for event in _cited(truth, by_key, "card.recycled"):
            if "seller_account" in event:
                seen[event["seller_account"]].add(order)
    return seen


def test_t2_cards_are_large_and_mostly_e_cards(
    truths: list[TruthRecord], by_key: dict[tuple[str, str], Event]
) -> None:
    t2 = [t for t in truths if t.typology == "T2"]
    assert t2
    assert all(t.face_value >= 200 and t.issuer in {"cmcc", "cucc"} for t in t2)
    assert all(t.stolen_funds and t.ring and t.ring.startswith("ring-t2-") for t in t2)
    channels = [_cited(t, by_key, "card.sold")[0]["channel"] for t in t2]
    assert channels.count("issuer") > channels.count("retailer") > 0
    # the rest of the world sells smaller cards: the large face value is a signal
    others = [t.face_value for t in truths if t.typology != "T2"]
    assert sum(others) / len(others) < min(t.face_value for t in t2)


def test_t2_pins_are_sold_online_within_the_hour_by_others_than_the_buyer(
    truths: list[TruthRecord], by_key: dict[tuple[str, str], Event]
) -> None:
    for truth in (t for t in truths if t.typology == "T2"):
        (sold,) = _cited(truth, by_key, "card.sold")
        assert sold["serial"] == truth.serial
        recycled = [h for h in truth.hops if h.kind == "recycled"]
        assert len(recycled) == 1
        assert recycled[0].to_party.startswith("plat-")
        # the PIN went straight from the victim (the buyer) to the ring member who sold it
        handover = truth.hops[truth.hops.index(recycled[0]) - 1]
        assert handover.kind == "handover"
        assert handover.from_party == truth.users.buyer
        assert handover.to_party == recycled[0].from_party
        assert truth.users.sellers == [recycled[0].from_party]
        assert truth.users.buyer not in truth.users.sellers
        intake = [*_cited(truth, by_key, "pin.verified"), *_cited(truth, by_key, "card.recycled")]
        assert len(intake) == 2
        for event in intake:
            assert timedelta(0) < _at(event) - _at(sold) < _HOUR, truth.card_id


def test_t2_sellers_never_sold_anything_before_or_after(
    truths: list[TruthRecord], by_key: dict[tuple[str, str], Event]
) -> None:
    seen = _orders_by_account(truths, by_key)
    t2 = [orders for orders in seen.values() if any(o[0] == "T2" for o in orders)]
    assert t2
    for orders in t2:  # the account did nothing in the world but one victim's T2 order
        assert len(orders) == 1
    # the check can fail: the other rings' accounts sell the cards of many orders
    t1 = [orders for orders in seen.values() if any(o[0] == "T1" for o in orders)]
    assert max(len(orders) for orders in t1) > 1


def _payouts(
    truths: list[TruthRecord], by_key: dict[tuple[str, str], Event]
) -> list[tuple[TruthRecord, Event]]:
    return [(t, e) for t in truths for e in _cited(t, by_key, "card.recycled")]


def _below_floor(event: Event) -> bool:
    return bool(event["payout_fen"] < event["face_value"] * 100 * PAYOUT_FLOOR)


def test_only_the_fence_pays_below_the_floor_and_only_for_t8_cards(
    truths: list[TruthRecord], by_key: dict[tuple[str, str], Event]
) -> None:
    payouts = _payouts(truths, by_key)
    t8 = [(t, e) for t, e in payouts if t.typology == "T8"]
    assert len(t8) == sum(1 for t in truths if t.typology == "T8")  # one intake each, kept
    for truth, event in t8:
        assert event["node_id"] == FENCING_SHOP
        assert _below_floor(event)
        assert event["payout_fen"] >= event["face_value"] * 100 * 0.5
        assert truth.stolen_funds
        assert truth.users.buyer not in truth.users.sellers
    others = [e for t, e in payouts if t.typology != "T8"]
    assert not [e for e in others if _below_floor(e)]
    # the fence also trades honestly, at the market rate, and T9's discount is seen too
    assert any(e["node_id"] == FENCING_SHOP for e in others)
    t9 = [e["payout_fen"] / e["face_value"] / 100 for t, e in payouts if t.typology == "T9"]
    assert t9
    assert min(t9) < 0.7


def test_the_fence_buys_ring_cards_in_batches_no_other_seller_brings(
    truths: list[TruthRecord], by_key: dict[tuple[str, str], Event]
) -> None:
    # (seller, shop, time) of every kept offline intake, the seller as the truth knows it
    intakes = [
        (hop.from_party, ref.node_id, _at(by_key[ref.node_id, ref.source_id]), t.typology)
        for t in truths
        for hop in t.hops
        for ref in hop.events
        if ref.type == "card.recycled" and ref.present and ref.node_id.startswith("shop-")
    ]

    def batch(seller: str, shop: str, at: datetime) -> int:
        """Intakes of the same seller at the same shop within an hour of ``at``."""
        return sum(1 for s, n, t, _ in intakes if (s, n) == (seller, shop) and abs(t - at) < _HOUR)

    t8 = [batch(s, n, t) for s, n, t, typology in intakes if typology == "T8"]
    others = [batch(s, n, t) for s, n, t, typology in intakes if typology != "T8"]
    assert t8
    assert min(t8) >= 4
    assert max(others) < min(t8)


def _t4_scenarios(truths: list[TruthRecord]) -> list[list[TruthRecord]]:
    """T4's cards in runs of one ring, in card order: a scenario's cards are consecutive
    (two scenarios of one ring in a row would make one run)."""
    runs: list[list[TruthRecord]] = []
    ring = None
    for truth in truths:
        if truth.typology != "T4":
            ring = None
            continue
        if truth.ring != ring:
            runs.append([])
            ring = truth.ring
        runs[-1].append(truth)
    return runs


def test_t4_cards_are_paid_by_several_gamblers_accounts_none_the_customers(
    truths: list[TruthRecord], by_key: dict[tuple[str, str], Event]
) -> None:
    # who paid with each account anywhere in the world, by the truth's buyer of the card
    payers: dict[str, set[str]] = defaultdict(set)
    for truth in truths:
        for sale in _cited(truth, by_key, "card.sold"):
            if "payment_account" in sale:
                payers[sale["payment_account"]].add(truth.users.buyer)
    scenarios = _t4_scenarios(truths)
    assert scenarios
    for cards in scenarios:
        sold = [_cited(t, by_key, "card.sold")[0] for t in cards]
        assert all(e["node_id"].startswith("issuer-") for e in sold)  # e-cards in the app
        accounts = {e["payment_account"] for e in sold}
        gamblers = {t.users.buyer for t in cards}
        assert len(accounts) == len(gamblers) >= 2  # one account each, shared with no one
        for truth, event in zip(cards, sold, strict=True):
            (redeemed,) = _cited(truth, by_key, "card.redeemed")
            assert payers[event["payment_account"]] == {truth.users.buyer}
            assert truth.users.redeemer not in gamblers
            assert event["payment_account"] != f"alipay:{redeemed['target_msisdn']}"


def _share_of_face(event: Event) -> float:
    return float(event["price_fen"] / (event["face_value"] * 100))


def test_t4_providers_buy_below_every_honest_transfer_to_a_provider(
    truths: list[TruthRecord], by_key: dict[tuple[str, str], Event]
) -> None:
    to_providers = [
        (t, e)
        for t in truths
        for e in _cited(t, by_key, "card.transferred")
        if e["to_party"].startswith("topup-")
    ]
    t4 = [(t, e) for t, e in to_providers if t.typology == "T4"]
    honest = [_share_of_face(e) for t, e in to_providers if t.typology is None]
    assert honest
    assert len(t4) == sum(1 for t in truths if t.typology == "T4")  # one each, recorded
    assert max(_share_of_face(e) for _, e in t4) < min(honest)  # the high rebate (返点)
    for truth, event in t4:
        # bought from the shell company, a party with no node, and recorded by the provider
        assert event["from_party"] == f"x-{truth.ring}"
        assert event["node_id"] == event["to_party"]


def test_t4_trace_breaks_at_the_handover_to_the_shell_company(
    truths: list[TruthRecord], by_key: dict[tuple[str, str], Event]
) -> None:
    t4 = [t for t in truths if t.typology == "T4"]
    assert t4
    for truth in t4:
        assert not truth.stolen_funds  # gamblers' own money, not a victim's
        assert truth.ring
        assert truth.ring.startswith("ring-t4-")
        kinds = [hop.kind for hop in truth.hops]
        assert kinds == ["sold", "handover", "transferred", "redeemed"]
        sold, handover, transferred, redeemed = truth.hops
        assert sold.to_party == handover.from_party == truth.users.buyer
        assert handover.to_party == transferred.from_party == f"x-{truth.ring}"
        assert not handover.events
        assert [(b.hop, b.reason) for b in truth.breakpoints] == [(1, "resale_unrecorded")]
        # the provider spends it on an ordinary customer's number, never the gambler's
        assert redeemed.from_party == transferred.to_party
        assert redeemed.to_party == truth.users.redeemer != truth.users.buyer
        (event,) = _cited(truth, by_key, "card.redeemed")
        assert (event["redeem_channel"], event["agent_id"]) == ("agent", redeemed.from_party)
