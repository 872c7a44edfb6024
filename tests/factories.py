"""Builders of valid synthetic events (never real personal data) for the tests."""

from __future__ import annotations

from itertools import count
from typing import Any

from cardtrace.domain.events import event_id_for
from cardtrace.domain.identifiers import luhn_check_digit, resident_id_check_digit

_serials = count(1)

ENVELOPE = {
    "schema_version": 1,
    "legal_basis": "contract",
    "occurred_at": "2025-03-01T10:00:00+08:00",
    "recorded_at": "2025-03-01T10:00:05+08:00",
}


def resident_id(first17: str = "11010519900307123") -> str:
    """A valid 18-digit ID number (Beijing region, 1990-03-07)."""
    return first17 + resident_id_check_digit(first17)


def bank_card(first15: str = "622202000000123") -> str:
    return first15 + luhn_check_digit(first15)


def serial(n: int | None = None) -> str:
    """A 17-digit cmcc-style serial."""
    return f"{n if n is not None else next(_serials):017d}"


def pin(n: int) -> str:
    """An 18-digit cmcc-style PIN that is easy to find in a byte scan."""
    return f"9{n:017d}"


def card_sold(source_id: str = "s-1", node: str = "shop-a", **fields: Any) -> dict[str, Any]:
    return {
        **ENVELOPE,
        "type": "card.sold",
        "node_id": node,
        "source_id": source_id,
        "channel": "retailer",
        "issuer": "cmcc",
        "serial": serial(),
        "pin": pin(1),
        "face_value": 100,
        "price_fen": 10000,
        "payment_method": "bank_card",
        "payment_account": f"bank:{bank_card()}",
        "merchant_id": "m-7",
        **fields,
    }


def card_recycled(source_id: str = "r-1", node: str = "shop-b", **fields: Any) -> dict[str, Any]:
    return {
        **ENVELOPE,
        "type": "card.recycled",
        "node_id": node,
        "source_id": source_id,
        "channel": "offline_shop",
        "issuer": "cmcc",
        "serial": serial(),
        "pin": pin(2),
        "face_value": 100,
        "seller_name": "测试甲",
        "seller_id_number": resident_id(),
        "seller_msisdn": "13800138000",
        "id_check": "id_card_ocr",
        "payout_method": "alipay",
        "payout_account": "alipay:13800138000",
        "payout_fen": 9200,
        "premises_id": "store-12",
        "cctv_clip": "clip-0001",
        **fields,
    }


def card_redeemed(source_id: str = "c-1", node: str = "cmcc", **fields: Any) -> dict[str, Any]:
    return {
        **ENVELOPE,
        "type": "card.redeemed",
        "node_id": node,
        "source_id": source_id,
        "channel": "carrier",
        "issuer": "cmcc",
        "serial": serial(),
        "face_value": 100,
        "target_msisdn": "+8613900139000",
        "redeem_channel": "app",
        **fields,
    }


def usage_summarized(source_id: str = "u-1", node: str = "cmcc", **fields: Any) -> dict[str, Any]:
    return {
        **ENVELOPE,
        "type": "usage.summarized",
        "node_id": node,
        "source_id": source_id,
        "channel": "carrier",
        "msisdn": "+8613900139000",
        "period": "2025-02",
        "calls": 31,
        "call_seconds": 4200,
        "distinct_contacts": 12,
        "data_mb": 2048,
        "top_cells": ["cell-1", "cell-2", "cell-3"],
        **fields,
    }


def subscriber_registered(
    source_id: str = "sub-1", node: str = "cmcc", **fields: Any
) -> dict[str, Any]:
    return {
        **ENVELOPE,
        "type": "subscriber.registered",
        "node_id": node,
        "source_id": source_id,
        "channel": "carrier",
        "msisdn": "+8613900139000",
        "number_type": "personal",
        "subject_name": "测试乙",
        "subject_id_number": resident_id(),
        "verification": "id_card",
        **fields,
    }


def record_erased(
    target_source: str, source_id: str = "e-1", node: str = "shop-a", **fields: Any
) -> dict[str, Any]:
    """An erasure, by ``node``, of the personal data of its record ``target_source``."""
    return {
        **ENVELOPE,
        "type": "record.erased",
        "node_id": node,
        "source_id": source_id,
        "channel": "retailer",
        "legal_basis": "statutory_duty",
        "target_event_id": event_id_for(fields.pop("target_node", node), target_source),
        "reason": "retention_expired",
        **fields,
    }
