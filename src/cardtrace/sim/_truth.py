"""The ground truth of a synthetic world: one :class:`TruthRecord` per card in ``truth.jsonl``.

The truth names people and parties by world ids (``P0000042``, ``shop-05``, ``x-tout-03``),
never a PIN. It is what a trace *should* find, so tests and benchmarks can score the
trace engine, the linker and the risk models against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BREAK_REASONS",
    "BreakReason",
    "Breakpoint",
    "EventRef",
    "Hop",
    "HopKind",
    "Rejection",
    "TrueUsers",
    "TruthRecord",
    "Typology",
    "read_truth",
]

Typology = Literal["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9"]
BreakReason = Literal[
    "resale_unrecorded",
    "anonymising_network",
    "anonymous_payment",
    "retention_expired",
    "data_destroyed",
    "unverified_identity",
    "anonymous_number",
    "record_refused",
]
BREAK_REASONS: tuple[str, ...] = BreakReason.__args__  # type: ignore[attr-defined]
HopKind = Literal["sold", "handover", "recycled", "attempt", "transferred", "resale", "redeemed"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventRef(_Frozen):
    """One event in a node file, by the node's id and the node's own record id."""

    node_id: str
    source_id: str
    type: str
    present: bool = Field(
        default=True, description="False when the node destroyed the record (see data_destroyed)."
    )


class Hop(_Frozen):
    """One step of the card's true chain of custody, with the events that record it."""

    kind: HopKind
    from_party: str
    to_party: str
    at: str = Field(description="ISO 8601 time the hop happened.")
    events: list[EventRef] = Field(default_factory=list)


class Breakpoint(_Frozen):
    """Where a trace of this card must break, and why."""

    hop: int = Field(ge=0, description="Index into TruthRecord.hops.")
    reason: BreakReason
    node_id: str | None = None
    source_id: str | None = None
    detail: str


class Rejection(_Frozen):
    """An event deliberately written invalid: ingest must reject it."""

    node_id: str
    source_id: str
    reason: str


class TrueUsers(_Frozen):
    """Who really bought, sold and used the card (person ids; buyer may be an organisation)."""

    buyer: str = Field(description="Person id, or an organisation's party id.")
    sellers: list[str] = Field(description="Person ids who sold the card on (in hop order).")
    redeemer: str = Field(description="Person id who uses the redeeming number.")
    redeem_msisdn: str


class TruthRecord(_Frozen):
    """The truth about one card of the world."""

    card_id: str
    issuer: str
    serial: str
    face_value: int = Field(description="yuan")
    typology: Typology | None
    stolen_funds: bool = Field(description="The card was paid with a victim's or stolen money.")
    ring: str | None = Field(default=None, description="Fraud ring id, for fraud typologies.")
    hops: list[Hop]
    users: TrueUsers
    breakpoints: list[Breakpoint] = Field(default_factory=list)
    rejected: list[Rejection] = Field(default_factory=list)


def read_truth(path: Path) -> Iterator[TruthRecord]:
    """Stream the truth records of ``truth.jsonl`` (or of a world directory holding it)."""
    if path.is_dir():
        path = path / "truth.jsonl"
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                yield TruthRecord.model_validate(orjson.loads(line))
