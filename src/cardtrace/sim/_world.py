"""The bounded pools of a world: nodes, people, phone numbers, devices, networks, fraud rings.

Every pool has a fixed maximum size whatever the number of cards, so memory stays flat;
cards draw from the pools with the world's ``random.Random``. Faker (``zh_CN``, seeded)
supplies names and company names once, up front, because it is slow.
"""

from __future__ import annotations

import ipaddress
import random
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, TypeVar

from faker import Faker

from cardtrace.sim._clock import DAY
from cardtrace.sim._ids import (
    CARRIERS,
    bank_card,
    iot_number,
    mobile_number,
    mvno_number,
    resident_id,
)
from cardtrace.sim._writer import Node

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

__all__ = [
    "ANONYMISING_NETWORKS",
    "DESTROYING_SHOP",
    "FENCING_SHOP",
    "RETENTION_PLATFORM",
    "TYPOLOGIES",
    "Account",
    "Numbers",
    "People",
    "Ring",
    "World",
    "account_identity",
    "build_world",
]

#: Networks whose addresses the world uses as VPN, proxy or Tor exits (documented in
#: docs/sim.md). None of the residential addresses below falls inside them.
ANONYMISING_NETWORKS = (
    "45.134.88.0/22",
    "91.219.236.0/22",
    "185.107.56.0/22",
    "193.29.104.0/22",
    "194.165.16.0/22",
)
#: First octets of the residential and mobile addresses of ordinary users.
_RESIDENTIAL_OCTETS = (
    36, 39, 42, 58, 59, 60, 61, 101, 106, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119,
    120, 121, 122, 123, 124, 125, 171, 180, 182, 183, 218, 219, 220, 221, 222, 223,
)  # fmt: skip
_SHOPS = 8
DESTROYING_SHOP = "shop-05"
#: The complicit recycler of T8: it knowingly buys ring cards below the market floor.
FENCING_SHOP = "shop-07"
#: The fraud typologies the world plays out, each with its own rings.
TYPOLOGIES = ("T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9")
RETENTION_PLATFORM = "plat-03"
_DESTROY_DAY = 273  # 2025-10-01: shop-05 wipes everything it recorded before
_LOG_RETENTION_DAYS = 180  # plat-03 keeps PIN-verification logs the CSL minimum only
_CARRIER_SHARE = (0.55, 0.25, 0.20)
T = TypeVar("T")


class WorldRandom(random.Random):
    """``random.Random`` with faster small ranges and choices (the generator's hot path).

    Below 2**31 a range is drawn from one ``random()`` float, not a rejection loop over
    ``getrandbits``; the bias is under 2**-22. Larger ranges (PINs) keep the exact method.
    """

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self._cumulative: dict[tuple[float, ...], list[float]] = {}

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            start, stop = 0, start
        width = stop - start
        if step == 1 and 0 < width < 1 << 31:
            return start + int(self.random() * width)
        return super().randrange(start, stop, step)

    def choice(self, seq: SupportsLenAndGetItem[T]) -> T:
        return seq[int(self.random() * len(seq))]

    def weighted(self, options: Sequence[T], weights: tuple[float, ...]) -> T:
        """One of ``options`` by relative ``weights`` (cumulative sums cached per tuple)."""
        cumulative = self._cumulative.get(weights)
        if cumulative is None:
            cumulative = self._cumulative[weights] = list(accumulate(weights))
        return options[bisect(cumulative, self.random() * cumulative[-1])]


@dataclass(slots=True)
class People:
    """Person pool, column-wise. Person ``i`` has the world id ``P{i:07d}``."""

    names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    numbers: list[tuple[int, ...]] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    banks: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)


@dataclass(slots=True)
class Numbers:
    """Phone-number pool, column-wise: the number, its current carrier, kind and subject."""

    msisdn: list[str] = field(default_factory=list)
    carrier: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    #: Registered subject: a person index, or -1 for a company (IoT numbers).
    subject: list[int] = field(default_factory=list)
    #: Who really uses the number (a person index).
    user: list[int] = field(default_factory=list)
    #: Personal numbers of ordinary people, by current carrier: top-up customers.
    customers: dict[str, list[int]] = field(default_factory=dict)

    def add(self, msisdn: str, carrier: str, kind: str, subject: int, user: int) -> int:
        self.msisdn.append(msisdn)
        self.carrier.append(carrier)
        self.kind.append(kind)
        self.subject.append(subject)
        self.user.append(user)
        return len(self.msisdn) - 1


@dataclass(frozen=True, slots=True)
class Account:
    """A seller account on an online platform, and whose identity it was verified with."""

    platform: int
    account_id: str
    member: int
    identity: int  # person whose ID the account carries; -1 when never verified
    id_check: str


@dataclass(slots=True)
class Ring:
    """A fraud ring: members, their seller accounts, shared devices, payout accounts, numbers."""

    ring_id: str
    typology: str
    members: list[int]
    accounts: list[Account]
    devices: list[str]
    payouts: list[tuple[str, str | None]]
    numbers: dict[str, list[int]]
    vpn: float


@dataclass(slots=True)
class World:
    rng: WorldRandom
    people: People
    numbers: Numbers
    honest: int  # people 0..honest-1 are ordinary; the rest are ring members
    companies: list[str]
    orgs: int
    org_accounts: list[str]
    rings: dict[str, list[Ring]]
    vpn_ips: list[str]
    nodes: dict[str, Node]
    shops: list[Node]
    platforms: list[Node]
    retailers: list[Node]
    issuers: dict[str, Node]
    carriers: dict[str, Node]
    layers: list[list[Node]]
    topups: list[Node]


def _ip(rng: WorldRandom) -> str:
    first = rng.choice(_RESIDENTIAL_OCTETS)
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def device_id(rng: WorldRandom) -> str:
    return f"fp-{rng.getrandbits(64):016x}"


def _vpn_ips(rng: WorldRandom) -> list[str]:
    hosts: list[str] = []
    for net in ANONYMISING_NETWORKS:
        addresses = list(ipaddress.ip_network(net).hosts())
        hosts.extend(str(a) for a in rng.sample(addresses, 40))
    return hosts


def _nodes() -> dict[str, Node]:
    nodes = [Node(f"issuer-{c}", "issuer", f"IS{c[1:3].upper()}") for c in CARRIERS]
    nodes += [Node(f"retail-{i:02d}", "retailer", f"RT{i:02d}") for i in range(1, 5)]
    nodes += [Node(f"shop-{i:02d}", "offline_shop", f"SH{i:02d}") for i in range(1, _SHOPS + 1)]
    nodes += [Node(f"plat-{i:02d}", "online_platform", f"PL{i:02d}") for i in range(1, 4)]
    for name in ("dist-a1", "dist-a2", "dist-b1", "dist-b2", "dist-c1", "topup-01", "topup-02"):
        nodes.append(Node(name, "distributor", name.replace("-", "").upper()))
    nodes += [Node(f"carrier-{c}", "carrier", f"CR{c[1:3].upper()}") for c in CARRIERS]
    by_id = {n.node_id: n for n in nodes}
    by_id[DESTROYING_SHOP].destroys_before = _DESTROY_DAY * DAY
    by_id[RETENTION_PLATFORM].log_retention = _LOG_RETENTION_DAYS * DAY
    return by_id


def _area_codes() -> list[tuple[str, int, int]]:
    """County codes from Faker's zh_CN list, with the birth years each was in use.

    The years come from python-stdnum's GB/T 2260 history, so every generated number
    also passes stdnum's ``cn.ric`` cross-check (a county code newer than the birth
    date would not).
    """
    from faker.providers.ssn import zh_CN as ssn_zh
    from stdnum import numdb

    history = numdb.get("cn/loc")
    areas: list[tuple[str, int, int]] = []
    for code in ssn_zh.Provider.area_codes:
        if code.endswith("00"):
            continue
        info = {k: v for _, props in history.info(code) for k, v in props.items()}
        for county in info.get("county", "").split(","):
            if not county:
                continue
            if not county.startswith("["):
                areas.append((code, 0, 9999))
                break
            start, end = county[1:].split("]")[0].split("-")
            areas.append((code, int(start or 0), int(end or 9999)))
            break
    return areas


def _resident_id(rng: WorldRandom, areas: list[tuple[str, int, int]]) -> str:
    year = rng.randint(1955, 2006)
    birth = f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    while True:
        code, start, end = rng.choice(areas)
        if start <= year <= end:
            return resident_id(rng, code, birth)


def _add_person(
    people: People,
    numbers: Numbers,
    rng: WorldRandom,
    fake: Faker,
    areas: list[tuple[str, int, int]],
) -> int:
    i = len(people)
    people.names.append(fake.name())
    people.ids.append(_resident_id(rng, areas))
    own: list[int] = []
    for _ in range(1 if rng.random() < 0.8 else 2):
        original = rng.weighted(CARRIERS, _CARRIER_SHARE)
        # Number portability: the prefix shows the original carrier only (domain.md §4.2).
        current = rng.choice(CARRIERS) if rng.random() < 0.03 else original
        own.append(numbers.add(mobile_number(rng, original), current, "personal", i, i))
    people.numbers.append(tuple(own))
    if i and rng.random() < 0.03:  # a family shares one phone
        people.devices.append(people.devices[-1])
    else:
        people.devices.append(device_id(rng))
    people.ips.append(_ip(rng))
    people.banks.append(bank_card(rng))
    return i


def account_identity(rng: WorldRandom, honest: int, member: int) -> tuple[int, str]:
    """Whose ID a ring member's seller account is verified with, and how: a straw's
    (one of the ``honest`` people), the member's own, or none (identity -1)."""
    straw = rng.randrange(honest)
    identity, check = (straw, "e_form_face") if rng.random() < 0.6 else (-1, "none")
    if rng.random() < 0.2:
        identity, check = member, "e_form_face"
    return identity, check


def _ring(
    world: World,
    typology: str,
    number: int,
    *,
    rng: WorldRandom,
    fake: Faker,
    areas: list[tuple[str, int, int]],
) -> Ring:
    people = world.people
    members = [
        _add_person(people, world.numbers, rng, fake, areas) for _ in range(rng.randint(3, 6))
    ]
    devices = [device_id(rng) for _ in range(rng.randint(2, 4))]
    accounts: list[Account] = []
    for member in members:
        for platform in range(len(world.platforms)):
            for _ in range(rng.randint(1, 3)):
                identity, check = account_identity(rng, world.honest, member)
                account_id = f"u{rng.getrandbits(40):012d}"
                accounts.append(Account(platform, account_id, member, identity, check))
    mules = [rng.randrange(world.honest) for _ in range(rng.randint(2, 5))]
    payouts: list[tuple[str, str | None]] = [
        ("bank_card", f"bank:{people.banks[m]}") for m in mules
    ]
    payouts += [
        ("alipay", f"alipay:{world.numbers.msisdn[people.numbers[m][0]]}") for m in mules[:2]
    ]
    if typology == "T9":  # USDT wallets on TRON, bought through OTC merchants
        payouts = [("crypto", None)]
    numbers: dict[str, list[int]] = {c: [] for c in CARRIERS}
    if typology == "T7":
        for carrier in CARRIERS:
            for _ in range(rng.randint(3, 8)):
                user = rng.choice(members)
                if rng.random() < 0.5:
                    msisdn, kind, subject = iot_number(rng, carrier), "iot", -1
                else:
                    msisdn, kind = mvno_number(rng, carrier), "mvno"
                    subject = rng.randrange(world.honest)
                numbers[carrier].append(world.numbers.add(msisdn, carrier, kind, subject, user))
    return Ring(
        ring_id=f"ring-{typology.lower()}-{number:02d}",
        typology=typology,
        members=members,
        accounts=accounts,
        devices=devices,
        payouts=payouts,
        numbers=numbers,
        vpn=rng.uniform(0.3, 0.8),
    )


def build_world(seed: int, cards: int) -> World:
    """All pools of the world for ``seed``, sized for ``cards`` but never beyond fixed caps."""
    rng = WorldRandom(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    numbers = Numbers()
    people = People()
    areas = _area_codes()
    for _ in range(min(max(cards // 20, 1500), 50_000)):
        _add_person(people, numbers, rng, fake, areas)
    for carrier in CARRIERS:
        numbers.customers[carrier] = [
            i
            for i, c in enumerate(numbers.carrier)
            if c == carrier and numbers.kind[i] == "personal"
        ]
    nodes = _nodes()
    world = World(
        rng=rng,
        people=people,
        numbers=numbers,
        honest=len(people),
        companies=[fake.company() for _ in range(60)],
        orgs=min(max(cards // 1000, 30), 1000),
        org_accounts=[bank_card(rng) for _ in range(min(max(cards // 1000, 30), 1000))],
        rings={},
        vpn_ips=_vpn_ips(rng),
        nodes=nodes,
        shops=[n for n in nodes.values() if n.channel == "offline_shop"],
        platforms=[n for n in nodes.values() if n.channel == "online_platform"],
        retailers=[n for n in nodes.values() if n.channel == "retailer"],
        issuers={c: nodes[f"issuer-{c}"] for c in CARRIERS},
        carriers={c: nodes[f"carrier-{c}"] for c in CARRIERS},
        layers=[
            [nodes["dist-a1"], nodes["dist-a2"]],
            [nodes["dist-b1"], nodes["dist-b2"]],
            [nodes["dist-c1"]],
        ],
        topups=[nodes["topup-01"], nodes["topup-02"]],
    )
    per_typology = min(max(cards // 25_000, 2), 20)
    for typology in TYPOLOGIES:
        world.rings[typology] = [
            _ring(world, typology, k, rng=rng, fake=fake, areas=areas)
            for k in range(1, per_typology + 1)
        ]
    return world
