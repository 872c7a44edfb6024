"""The steps of a card's life, each writing the events its recording node can see.

A :class:`Steps` object owns the world's mutable state (serial counters, which numbers
the carriers have registered, which months each number was topped up) and writes one
event per recorded fact through :class:`~cardtrace.sim._writer.NodeFiles`. Each step also
appends the true hop to the card's :class:`Trail`, with its breakpoints.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cardtrace.sim._clock import DAY, HOUR, MINUTE, iso, month_of, period_start
from cardtrace.sim._ids import iccid, imsi, legacy_id
from cardtrace.sim._world import Account, World, WorldRandom, account_identity
from cardtrace.sim._writer import Node, NodeFiles

__all__ = ["Card", "Leg", "Sale", "Steps", "Trail", "person"]

#: Same namespace as cardtrace.domain.events.EVENT_NAMESPACE (a test keeps them equal).
_EVENT_NAMESPACE = uuid.UUID("6f1d3c52-8a47-5d0e-9b61-2c7e4f0a9d13")

#: (serial length, PIN length, face values, their weights) per issuer (domain.md §1.2).
_FORMATS: dict[str, tuple[int, int, tuple[int, ...], tuple[int, ...]]] = {
    "cmcc": (17, 18, (10, 20, 30, 50, 100, 200, 300, 500), (2, 4, 8, 25, 40, 10, 6, 5)),
    "cucc": (15, 19, (20, 30, 50, 100, 300, 500), (5, 10, 30, 40, 10, 5)),
    "ctcc": (19, 18, (50, 100), (45, 55)),
}
_USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile",
    "Mozilla/5.0 (Linux; Android 14; V2309A) AppleWebKit/537.36 Chrome/120.0 Mobile",
    "Mozilla/5.0 (Linux; Android 13; 22081212C) AppleWebKit/537.36 Chrome/116.0 Mobile",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "okhttp/4.9.3",
)
_SIMILAR = "王汪张章李季陈程刘柳杨扬赵肖黄璜周舟吴伍徐许孙逊马冯"
#: Accounts opened during the world are numbered from here: the pools' accounts are all
#: below it (honest ones below 2**36, rings' below 2**40), so a new one has no history.
_OPENED_FROM = 1 << 40


def person(index: int) -> str:
    """The world id of person ``index``."""
    return f"P{index:07d}"


def event_id(node_id: str, source_id: str) -> str:
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{node_id}\n{source_id}"))


class Sale(NamedTuple):
    """A purchase: where, by whom (a party id), how paid (method, account), for what."""

    node: Node
    buyer: str
    payment: tuple[str, str | None]
    price_fen: int
    order_ref: str


class Leg(NamedTuple):
    """A resale from one party to the next; a party without a node keeps no records."""

    src: Node | None
    src_party: str
    dst: Node | None
    dst_party: str


@dataclass(slots=True)
class Card:
    issuer: str
    serial: str
    pin: str
    face: int

    def fields(self, *, pin: bool = True, serial: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"issuer": self.issuer}
        if serial:
            out["serial"] = self.serial
        if pin:
            out["pin"] = self.pin
        out["face_value"] = self.face
        return out


@dataclass(slots=True)
class Trail:
    """The true chain of custody of one card as it is built, and where a trace breaks."""

    hops: list[dict[str, Any]] = field(default_factory=list)
    breaks: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    sellers: list[str] = field(default_factory=list)

    def hop(self, kind: str, src: str, dst: str, at: int, events: list[dict[str, Any]]) -> int:
        self.hops.append(
            {"kind": kind, "from_party": src, "to_party": dst, "at": iso(at), "events": events}
        )
        return len(self.hops) - 1

    def brk(self, hop: int, reason: str, detail: str, ref: dict[str, Any] | None = None) -> None:
        mark: dict[str, Any] = {"hop": hop, "reason": reason}
        if ref is not None:
            mark["node_id"] = ref["node_id"]
            mark["source_id"] = ref["source_id"]
        mark["detail"] = detail
        self.breaks.append(mark)

    def reject(self, hop: int, ref: dict[str, Any], why: str, *, breaks: str, detail: str) -> None:
        """The event of ``ref`` is written so that ingest must reject it (``why``), which
        breaks the trace at ``hop`` for reason ``breaks``."""
        self.rejected.append(
            {"node_id": ref["node_id"], "source_id": ref["source_id"], "reason": why}
        )
        self.brk(hop, breaks, detail, ref)


def _ref(node: Node, source_id: str, kind: str, kept: bool) -> dict[str, Any]:
    ref: dict[str, Any] = {"node_id": node.node_id, "source_id": source_id, "type": kind}
    if not kept:
        ref["present"] = False
    return ref


class Steps:
    """Writes the events of each step of a card's life and records the truth of it."""

    def __init__(self, world: World, files: NodeFiles) -> None:
        self.world = world
        self.rng = world.rng
        self.files = files
        rng = world.rng
        self._next_serial = {c: rng.randrange(10**6) * 1000 for c in _FORMATS}
        self._registered: dict[int, dict[str, Any]] = {}
        self._months: dict[int, int] = {}
        self._opened = 0
        self.vpn_set = frozenset(world.vpn_ips)

    # -- cards ---------------------------------------------------------------------------

    def new_cards(self, issuer: str, count: int, face: int | None = None) -> list[Card]:
        """``count`` cards of one face value with consecutive serials (one retail order);
        the face value is drawn from the issuer's usual mix unless given."""
        serial_len, pin_len, faces, weights = _FORMATS[issuer]
        rng = self.rng
        if face is None:
            face = rng.weighted(faces, weights)
        province = rng.randint(1, 31)
        cards = []
        for _ in range(count):
            n = self._next_serial[issuer]
            self._next_serial[issuer] = n + 1
            cards.append(Card(issuer, _serial(issuer, province, n, serial_len), "", face))
            cards[-1].pin = f"{rng.randrange(10**pin_len):0{pin_len}d}"
        return cards

    def emit(self, node: Node, kind: str, t: int, fields: dict[str, Any]) -> dict[str, Any]:
        """Write one event that is recorded a few seconds after it happens."""
        recorded = t + self.rng.randrange(1, 90)
        source_id, kept = self.files.emit(node, kind, t, recorded, fields)
        return _ref(node, source_id, kind, kept)

    def destroyed(self, trail: Trail, hop: int, refs: list[dict[str, Any]]) -> None:
        for ref in refs:
            if ref.get("present") is False:
                trail.brk(hop, "data_destroyed", f"{ref['node_id']} wiped its records", ref)

    # -- purchase ------------------------------------------------------------------------

    def sell(self, card: Card, t: int, sale: Sale) -> dict[str, Any]:
        node = sale.node
        fields = card.fields(pin=node.channel == "issuer")
        fields["price_fen"] = sale.price_fen
        fields["payment_method"] = sale.payment[0]
        if sale.payment[1] is not None:
            fields["payment_account"] = sale.payment[1]
        store = (int(sale.order_ref[-3:]) % 40) if node.channel == "retailer" else 0
        fields["merchant_id"] = f"{node.node_id}-s{store:02d}" if store else f"{node.node_id}-app"
        fields["order_ref"] = sale.order_ref
        return self.emit(node, "card.sold", t, fields)

    def order_ref(self) -> str:
        return f"O{self.rng.getrandbits(52):016d}"

    def payment_of(
        self, who: int, methods: tuple[str, ...], weights: tuple[int, ...]
    ) -> tuple[str, str | None]:
        method = self.rng.weighted(methods, weights)
        return method, self.account_of(who, method)

    def account_of(self, who: int, method: str) -> str | None:
        """The person's account for a payment method, as ``scheme:identifier``."""
        people = self.world.people
        if method in ("bank_card", "credit_card"):
            return f"bank:{people.banks[who]}"
        if method == "alipay":
            if who % 3 == 0:
                return f"alipay:2088{(who * 2654435761 + 4099) % 10**12:012d}"
            return f"alipay:{self.world.numbers.msisdn[people.numbers[who][0]]}"
        if method == "wechat":
            return f"wechat:wxid_{(who * 2654435761 + 97) % (1 << 40):011x}"
        return None  # cash and crypto leave no account the recorder can name

    def sold_hop(self, trail: Trail, card: Card, t: int, sale: Sale) -> None:
        ref = self.sell(card, t, sale)
        hop = trail.hop("sold", sale.node.node_id, sale.buyer, t, [ref])
        if sale.payment[0] in ("cash", "crypto"):
            trail.brk(hop, "anonymous_payment", f"bought with {sale.payment[0]}", ref)

    # -- recycling -----------------------------------------------------------------------

    def honest_account(self, who: int, platform: int) -> Account:
        account_id = f"u{(who * 2654435761 + platform * 40503 + 12345) % (1 << 36):011d}"
        roll = (who * 31 + platform * 7) % 20
        check = "none" if roll == 0 else ("face" if roll < 5 else "e_form_face")
        return Account(platform, account_id, who, -1 if check == "none" else who, check)

    def new_account(self, member: int, platform: int) -> Account:
        """A seller account a ring member opens now: a first-time seller, never seen before.

        Its number is spread like the rings' (an odd multiplier is a bijection modulo
        2**40) but lies above all of theirs, so no two accounts share an id.
        """
        self._opened += 1
        number = _OPENED_FROM + self._opened * 2654435761 % _OPENED_FROM
        identity, check = account_identity(self.rng, self.world.honest, member)
        return Account(platform, f"u{number:012d}", member, identity, check)

    def ip_of(self, who: int, vpn: float) -> str:
        rng = self.rng
        if rng.random() < vpn:
            return rng.choice(self.world.vpn_ips)
        if rng.random() < 0.8:
            return self.world.people.ips[who]
        first = rng.choice((39, 111, 112, 117, 223))  # mobile-data gateways
        return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def recycle_online(
        self, trail: Trail, card: Card, t: int, account: Account, *, ip: str, device: str,
        payout: tuple[str, str | None], payout_fen: int, seller_msisdn: str | None = None,
        pin_only: bool = False,
    ) -> None:  # fmt: skip
        """PIN verification then intake at an online platform (domain.md §2 flow)."""
        rng = self.rng
        node = self.world.platforms[account.platform]
        base = card.fields(serial=not pin_only)
        verified = dict(base)
        verified["result"] = "valid"
        verified["balance_fen"] = card.face * 100
        verified["submitter_account"] = account.account_id
        verified["ip"] = ip
        verified["device_fingerprint"] = device
        verified["user_agent"] = rng.choice(_USER_AGENTS)
        refs = self._pin_log(node, t, verified)
        intake = dict(base)
        intake["seller_account"] = account.account_id
        people = self.world.people
        if account.identity >= 0:
            intake["seller_name"] = people.names[account.identity]
            intake["seller_id_number"] = people.ids[account.identity]
        if seller_msisdn is not None:
            intake["seller_msisdn"] = seller_msisdn
        intake["id_check"] = account.id_check
        intake["payout_method"] = payout[0]
        if payout[1] is not None:
            intake["payout_account"] = payout[1]
        intake["payout_fen"] = payout_fen
        intake["premises_id"] = node.node_id
        intake["ip"] = ip
        intake["device_fingerprint"] = device
        leaked = False
        if account.id_check != "none":
            intake["snapshot_ref"], leaked = self._snapshot_ref(node, seller_msisdn)
        t2 = t + rng.randrange(20, 15 * MINUTE)
        refs.append(self.emit(node, "card.recycled", t2, intake))
        seller = person(account.member)
        trail.sellers.append(seller)
        hop = trail.hop("recycled", seller, node.node_id, t, refs)
        self._expired(trail, hop, refs)
        if leaked:
            trail.reject(
                hop, refs[-1], "snapshot_ref made from the seller's phone number",
                breaks="record_refused", detail="phone number in snapshot_ref; record refused",
            )  # fmt: skip
        if account.identity < 0:
            trail.brk(hop, "unverified_identity", "seller account never verified", refs[-1])
        elif account.identity != account.member:
            trail.brk(
                hop, "unverified_identity", "account verified with another person's ID", refs[-1]
            )
        self._payout_breaks(trail, hop, payout[0], refs[-1])
        if ip in self.vpn_set:
            trail.brk(hop, "anonymising_network", "submitted through a VPN/proxy exit", refs[0])

    def _snapshot_ref(self, node: Node, seller_msisdn: str | None) -> tuple[str, bool]:
        """A platform's transaction-snapshot reference, and whether it holds the seller's
        phone number: about one in 100 is made from it (a careless export: personal data
        in a clear field, which ingest refuses). Both come from one draw, so the rest of
        the world is the same either way."""
        bits = self.rng.getrandbits(40)
        if seller_msisdn is not None and bits % 100 == 0:
            return f"snap-{node.prefix}-{seller_msisdn}", True
        return f"snap-{node.prefix}-{bits:012x}", False

    def _payout_breaks(self, trail: Trail, hop: int, method: str, ref: dict[str, Any]) -> None:
        if method in ("cash", "crypto"):
            trail.brk(hop, "anonymous_payment", f"paid out in {method}", ref)

    def _pin_log(self, node: Node, t: int, fields: dict[str, Any]) -> list[dict[str, Any]]:
        """A ``pin.verified`` entry, followed by its erasure if the node's retention ends
        inside the world."""
        ref = self.emit(node, "pin.verified", t, fields)
        erased = self._expire(node, ref, t)
        return [ref] if erased is None else [ref, erased]

    def _expired(self, trail: Trail, hop: int, refs: list[dict[str, Any]]) -> None:
        if any(ref["type"] == "record.erased" for ref in refs):
            trail.brk(
                hop, "retention_expired", "PIN-verification log erased after 180 days", refs[0]
            )

    def _expire(self, node: Node, ref: dict[str, Any], t: int) -> dict[str, Any] | None:
        """The erasure of a log entry past the node's retention, if it falls inside the world."""
        if node.log_retention is None:
            return None
        purge = (t + node.log_retention) // DAY * DAY + DAY + 3 * HOUR
        if purge >= 365 * DAY:
            return None
        fields = {
            "target_event_id": event_id(node.node_id, ref["source_id"]),
            "reason": "retention_expired",
        }
        return self.emit(node, "record.erased", purge, fields)

    def attempt(
        self, trail: Trail, card: Card, t: int, account: Account, *, ip: str, device: str
    ) -> None:
        """A retry of an already consumed PIN at another platform (T1 signal)."""
        node = self.world.platforms[account.platform]
        fields = card.fields()
        fields.update(
            result="used", balance_fen=0, submitter_account=account.account_id, ip=ip,
            device_fingerprint=device, user_agent=self.rng.choice(_USER_AGENTS),
        )  # fmt: skip
        refs = self._pin_log(node, t, fields)
        hop = trail.hop("attempt", person(account.member), node.node_id, t, refs)
        self._expired(trail, hop, refs)

    def recycle_offline(
        self, trail: Trail, card: Card, t: int, shop: Node, *, who: int, identity: int,
        id_check: str, payout: tuple[str, str | None], payout_fen: int,
    ) -> None:  # fmt: skip
        """Intake at an offline shop with a CCTV clip, and real-name registration unless
        ``id_check`` is ``none``."""
        rng = self.rng
        registration, invalid = self._registration(identity, id_check)
        fields = card.fields()
        fields.update(registration)
        fields["id_check"] = id_check
        fields["payout_method"] = payout[0]
        if payout[1] is not None:
            fields["payout_account"] = payout[1]
        fields["payout_fen"] = payout_fen
        fields["premises_id"] = shop.node_id
        fields["cctv_clip"] = f"cctv-{shop.prefix}-{t // DAY:03d}-{rng.getrandbits(24):07d}"
        ref = self.emit(shop, "card.recycled", t, fields)
        seller = person(who)
        trail.sellers.append(seller)
        hop = trail.hop("recycled", seller, shop.node_id, t, [ref])
        self.destroyed(trail, hop, [ref])
        if invalid and ref.get("present", True):
            trail.reject(
                hop, ref, "seller_id_number mis-copied by hand (check digit or date fails)",
                breaks="unverified_identity", detail="ID number mis-copied; record rejected",
            )  # fmt: skip
        elif id_check == "none":
            trail.brk(
                hop, "unverified_identity", "shop took the card without real-name registration", ref
            )
        elif identity != who:
            trail.brk(hop, "unverified_identity", "seller showed another person's ID card", ref)
        self._payout_breaks(trail, hop, payout[0], ref)

    def _registration(self, identity: int, id_check: str) -> tuple[dict[str, str], bool]:
        """What a shop writes down of the seller (nothing for ``none``), and whether it
        mis-copied the ID number by hand."""
        if id_check == "none":
            return {}, False
        rng = self.rng
        people = self.world.people
        name = people.names[identity]
        id_number = people.ids[identity]
        invalid = False
        if id_check == "manual_copy":
            roll = rng.random()
            if roll < 0.02:
                id_number = _mistype(rng, id_number)
                invalid = True
            elif roll < 0.03:
                name = _misspell(rng, name)
            elif roll < 0.06 and id_number[6:8] == "19" and id_number[8] in "5678":
                id_number = legacy_id(id_number)
        msisdn = self.world.numbers.msisdn[people.numbers[identity][0]]
        registration = {"seller_name": name, "seller_id_number": id_number, "seller_msisdn": msisdn}
        return registration, invalid

    # -- distribution --------------------------------------------------------------------

    def transfer(self, trail: Trail, card: Card, t: int, leg: Leg, price_fen: int) -> None:
        """One resale; the sender records it, the receiver too about half the time."""
        rng = self.rng
        fields = card.fields()
        src, src_party, dst, dst_party = leg
        fields["from_party"] = src_party
        fields["to_party"] = dst_party
        fields["price_fen"] = price_fen
        fields["batch_ref"] = f"B{t // DAY:03d}-{src_party}-{dst_party}"
        fields["payment_ref"] = f"PAY{rng.getrandbits(48):015d}"
        refs = []
        if src is not None:
            refs.append(self.emit(src, "card.transferred", t, fields))
        if dst is not None and (src is None or rng.random() < 0.5):
            refs.append(self.emit(dst, "card.transferred", t + rng.randrange(60, HOUR), fields))
        hop = trail.hop("transferred", src_party, dst_party, t, refs)
        self.destroyed(trail, hop, refs)

    def distribute(
        self, trail: Trail, card: Card, t: int, holder: Node, layers: int
    ) -> tuple[Node, int]:
        """Pass the card up ``layers`` resales (1–4), ending at a top-up service provider."""
        rng = self.rng
        path = [rng.choice(layer) for layer in self.world.layers[: layers - 1]]
        path.append(rng.choice(self.world.topups))
        rate = rng.uniform(0.90, 0.96)
        for nxt in path:
            t += rng.randrange(10 * MINUTE, 12 * HOUR)
            rate = min(rate + rng.uniform(0.003, 0.012), 0.995)
            price = int(card.face * 100 * rate)
            self.transfer(trail, card, t, Leg(holder, holder.node_id, nxt, nxt.node_id), price)
            holder = nxt
        return holder, t

    def layers(self) -> int:
        return self.rng.weighted((1, 2, 3, 4), (20, 40, 30, 10))

    # -- redemption ----------------------------------------------------------------------

    def customer(self, issuer: str) -> int:
        """A top-up customer's number at the card's carrier."""
        return self.rng.choice(self.world.numbers.customers[issuer])

    def redeem(
        self, trail: Trail, card: Card, t: int, holder: str, number: int, *, channel: str,
        agent: str | None = None, ip: str | None = None,
    ) -> int:  # fmt: skip
        """The carrier credits the card to ``number``; returns the hop index."""
        numbers = self.world.numbers
        node = self.world.carriers[numbers.carrier[number]]
        fields = card.fields()
        fields["target_msisdn"] = numbers.msisdn[number]
        fields["redeem_channel"] = channel
        if ip is not None:
            fields["requester_ip"] = ip
        if agent is not None:
            fields["agent_id"] = agent
        refs = [self.emit(node, "card.redeemed", t, fields), self._register(number, node)]
        self._months[number] = self._months.get(number, 0) | (1 << month_of(t))
        hop = trail.hop("redeemed", holder, person(numbers.user[number]), t, refs)
        kind = numbers.kind[number]
        if kind == "iot":
            trail.brk(
                hop,
                "anonymous_number",
                "redeemed to an IoT number registered to a company",
                refs[1],
            )
        elif numbers.subject[number] != numbers.user[number]:
            trail.brk(
                hop, "unverified_identity", "number registered to a straw by an agent", refs[1]
            )
        if ip is not None and ip in self.vpn_set:
            trail.brk(
                hop, "anonymising_network", "top-up requested through a VPN/proxy exit", refs[0]
            )
        return hop

    def _register(self, number: int, node: Node) -> dict[str, Any]:
        known = self._registered.get(number)
        if known is not None:
            return known
        rng = self.rng
        numbers = self.world.numbers
        people = self.world.people
        carrier = numbers.carrier[number]
        kind = numbers.kind[number]
        fields: dict[str, Any] = {
            "msisdn": numbers.msisdn[number],
            "imsi": imsi(rng, carrier),
            "iccid": iccid(rng, carrier),
            "number_type": kind,
        }
        subject = numbers.subject[number]
        if subject >= 0:
            fields["subject_name"] = people.names[subject]
            fields["subject_id_number"] = people.ids[subject]
        else:
            fields["subject_name"] = rng.choice(self.world.companies)[:64]
        if kind == "personal":
            fields["verification"] = "id_card" if rng.random() < 0.7 else "face"
            t = -rng.randrange(30 * DAY, 12 * 365 * DAY)
        else:
            fields["verification"] = "agent"
            t = -rng.randrange(10 * DAY, 90 * DAY)
        ref = self.emit(node, "subscriber.registered", t, fields)
        self._registered[number] = ref
        return ref

    def usage(self) -> None:
        """Monthly usage summaries of every number that received a top-up (from its first)."""
        numbers = self.world.numbers
        rng = self.rng
        for number, months in self._months.items():
            node = self.world.carriers[numbers.carrier[number]]
            first = (months & -months).bit_length() - 1
            kind = numbers.kind[number]
            straw = numbers.subject[number] != numbers.user[number]
            cell = f"cell-{numbers.carrier[number]}-{(number * 7919) % 65521:05d}"
            for month in range(first, 12):
                fields = _usage_fields(rng, kind, straw, cell)
                fields = {
                    "msisdn": numbers.msisdn[number],
                    "period": f"2025-{month + 1:02d}",
                    **fields,
                }
                end = period_start(month + 1)
                recorded = end + rng.randrange(HOUR, 2 * DAY)
                self.files.emit(node, "usage.summarized", end - 1, recorded, fields)


def _usage_fields(rng: WorldRandom, kind: str, straw: bool, cell: str) -> dict[str, Any]:
    if kind == "iot":
        return {"calls": 0, "call_seconds": 0, "distinct_contacts": 0,
                "data_mb": rng.randrange(1, 200), "top_cells": [cell]}  # fmt: skip
    if straw:  # a traded number used for fraud calls: many short calls to many people
        calls = rng.randrange(600, 3000)
        return {"calls": calls, "call_seconds": calls * rng.randrange(20, 70),
                "distinct_contacts": int(calls * rng.uniform(0.6, 0.95)),
                "data_mb": rng.randrange(100, 2000), "top_cells": [cell]}  # fmt: skip
    calls = rng.randrange(20, 400)
    return {"calls": calls, "call_seconds": calls * rng.randrange(40, 200),
            "distinct_contacts": max(1, int(calls * rng.uniform(0.1, 0.4))),
            "data_mb": rng.randrange(500, 40_000),
            "top_cells": [cell, f"{cell}-{rng.randrange(1, 9)}"]}  # fmt: skip


def _serial(issuer: str, province: int, n: int, length: int) -> str:
    if issuer == "cmcc":  # serial digits 6–7 carry the province code (domain.md §1.2, ❓)
        return f"25001{province:02d}{n:0{length - 7}d}"
    if issuer == "ctcc":  # 4th digit 1 = national card
        return f"2511{n:0{length - 4}d}"
    return f"25{n:0{length - 2}d}"


def _mistype(rng: WorldRandom, id_number: str) -> str:
    """One wrong digit among the first 17: the MOD 11-2 check always catches it."""
    pos = rng.randrange(6, 17)
    digit = str((int(id_number[pos]) + rng.randrange(1, 10)) % 10)
    return id_number[:pos] + digit + id_number[pos + 1 :]


def _misspell(rng: WorldRandom, name: str) -> str:
    """One character of the name swapped for another common one (a copying slip)."""
    pos = rng.randrange(len(name))
    other = rng.choice([c for c in _SIMILAR if c != name[pos]])
    return name[:pos] + other + name[pos + 1 :]
