"""Card scenarios: the honest recycling flow and the fraud typologies of domain.md §3.

Each scenario makes one or more cards (a retail order or a spree), walks each through the
steps that really happen to it, and returns its truth records. The share of cards per
scenario is fixed in :data:`CARD_SHARE`; honest flows are about 80 % of the cards.
Every recycler pays at least :data:`PAYOUT_FLOOR` of face value, except the complicit shop
of T8 for the ring cards it buys.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from cardtrace.sim._clock import DAY, HOUR, MINUTE, YEAR_END
from cardtrace.sim._ids import CARRIERS, bank_card
from cardtrace.sim._steps import Card, Leg, Sale, Steps, Trail, person
from cardtrace.sim._world import FENCING_SHOP, Account, Ring

__all__ = ["CARD_SHARE", "PAYOUT_FLOOR", "Flows"]

#: Share of cards per typology (None = honest) and the mean cards per scenario.
CARD_SHARE: dict[str | None, tuple[float, float]] = {
    None: (0.80, 1.0),
    "T1": (0.04, 3.5),
    "T2": (0.02, 2.0),
    "T3": (0.03, 2.0),
    "T4": (0.015, 7.0),
    "T5": (0.025, 8.0),
    "T6": (0.025, 1.0),
    "T7": (0.015, 1.0),
    "T8": (0.015, 7.0),
    "T9": (0.015, 1.0),
}
#: The market floor of a recycler's payout, as a share of face value. Honest recyclers and
#: every other typology pay at or above it (T9's steep discount starts there); only the
#: fence of T8 (``FENCING_SHOP``) pays below it, at 50–64 %.
PAYOUT_FLOOR = 0.65
#: Face values (and weights) of the gift cards a T2 victim is told to buy: the large ones.
_T2_FACES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "cmcc": ((200, 300, 500), (40, 35, 25)),
    "cucc": ((300, 500), (60, 40)),
}
#: What a top-up provider pays T4's shell company for the gamblers' cards, as a share of
#: face value: a rebate (返点) of 14–22 %, where an honest agent sells to a provider at
#: 90.3–99.5 % (``Steps.distribute``).
_T4_RATE = (0.78, 0.86)
#: What the fence of T8 pays, and T9's discount, as shares of face value.
_FENCE_RATE = (0.50, 0.64)
_T9_RATE = (PAYOUT_FLOOR, 0.80)
_ISSUER_SHARE = (0.55, 0.25, 0.20)
_LATEST_START = YEAR_END - 40 * DAY
#: How an offline shop registers an honest seller (weights 20, 75, 5).
_SHOP_CHECKS = ("manual_copy", "id_card_ocr", "none")

Truth = dict[str, Any]


class Flows:
    """Scenario generators over one world's :class:`Steps`."""

    def __init__(self, steps: Steps) -> None:
        self.steps = steps
        self.rng = steps.rng
        self.world = steps.world
        self.made = 0
        self.by_typology: dict[str | None, Callable[[int], list[Truth]]] = {
            None: self.honest,
            "T1": self.t1_brushing,
            "T2": self.t2_gift_card_pin,
            "T3": self.t3_slow_topup,
            "T4": self.t4_mismatching,
            "T5": self.t5_stolen_credit_card,
            "T6": self.t6_score_running,
            "T7": self.t7_two_cards,
            "T8": self.t8_fencing,
            "T9": self.t9_virtual_currency,
        }
        self._weights = tuple(share / size for share, size in CARD_SHARE.values())
        self._typologies = list(CARD_SHARE)

    def next_scenario(self, room: int) -> list[Truth]:
        """Cards of the next scenario (at most ``room``); every typology comes once first."""
        first = [t for t in self._typologies if t is not None]
        if self.made < len(first):
            typology: str | None = first[self.made]
        else:
            typology = self.rng.weighted(self._typologies, self._weights)
        self.made += 1
        return self.by_typology[typology](room)

    # -- helpers -------------------------------------------------------------------------

    def _issuer(self) -> str:
        return self.rng.weighted(CARRIERS, _ISSUER_SHARE)

    def _truth(
        self, card: Card, trail: Trail, typology: str | None, *, stolen: bool,
        ring: Ring | None, buyer: str, redeem_hop: int, redeem_number: int,
    ) -> Truth:  # fmt: skip
        return {
            "card_id": "",
            "issuer": card.issuer,
            "serial": card.serial,
            "face_value": card.face,
            "typology": typology,
            "stolen_funds": stolen,
            "ring": None if ring is None else ring.ring_id,
            "hops": trail.hops,
            "users": {
                "buyer": buyer,
                "sellers": trail.sellers,
                "redeemer": trail.hops[redeem_hop]["to_party"],
                "redeem_msisdn": self.world.numbers.msisdn[redeem_number],
            },
            "breakpoints": trail.breaks,
            "rejected": trail.rejected,
        }

    def _sale_node_and_payment(self, card: Card, who: int) -> tuple[Any, tuple[str, str | None]]:
        if self.rng.random() < 0.4:
            return self.world.issuers[card.issuer], self._account_payment(who)
        node = self.rng.choice(self.world.retailers)
        return node, self.steps.payment_of(
            who, ("alipay", "wechat", "bank_card", "cash"), (35, 35, 10, 20)
        )

    def _account_payment(self, who: int) -> tuple[str, str | None]:
        """How ``who`` pays an issuer's app or a victim's order: from an account, never cash."""
        return self.steps.payment_of(who, ("alipay", "wechat", "bank_card"), (45, 40, 15))

    def _payout_online(self, who: int) -> tuple[str, str | None]:
        return self.steps.payment_of(who, ("alipay", "wechat", "bank_card"), (45, 35, 20))

    def _onward(self, trail: Trail, card: Card, t: int, holder: Any) -> tuple[int, int]:
        """Resales from a recycler to a top-up provider, then the redemption to a customer.

        About 4 % of cards leave the recorded network through a tout (resale_unrecorded).
        Returns the redemption hop and the redeemed number.
        """
        steps = self.steps
        rng = self.rng
        if rng.random() < 0.04:
            layers = rng.randint(1, 2)
            if layers > 1:
                holder, t = steps.distribute(trail, card, t, holder, layers - 1)
            tout = f"x-tout-{rng.randrange(1, 13):02d}"
            t += rng.randrange(10 * MINUTE, 6 * HOUR)
            price = int(card.face * 100 * rng.uniform(0.93, 0.97))
            steps.transfer(trail, card, t, Leg(holder, holder.node_id, None, tout), price)
            number = steps.customer(card.issuer)
            user = person(self.world.numbers.user[number])
            t += rng.randrange(HOUR, 2 * DAY)
            hop = trail.hop("resale", tout, user, t, [])
            trail.brk(hop, "resale_unrecorded", "sold on by a tout who keeps no records")
            t += rng.randrange(MINUTE, HOUR)
            channel = rng.choice(("app", "sms", "hotline"))
            return steps.redeem(trail, card, t, user, number, channel=channel), number
        holder, t = steps.distribute(trail, card, t, holder, steps.layers())
        t += rng.randrange(MINUTE, 6 * HOUR)
        number = steps.customer(card.issuer)
        return steps.redeem(
            trail, card, t, holder.node_id, number, channel="agent", agent=holder.node_id
        ), number

    def _honest_recycle(self, trail: Trail, card: Card, t: int, seller: int) -> tuple[Any, int]:
        """An ordinary holder sells the card to a shop or platform; returns (recycler, time)."""
        steps = self.steps
        rng = self.rng
        payout_fen = int(card.face * 100 * rng.uniform(0.85, 0.97))
        if rng.random() < 0.45:
            shop = rng.choice(self.world.shops)
            check = rng.weighted(_SHOP_CHECKS, (20, 75, 5))
            payout = steps.payment_of(seller, ("cash", "wechat", "alipay"), (30, 35, 35))
            steps.recycle_offline(
                trail, card, t, shop, who=seller, identity=seller, id_check=check,
                payout=payout, payout_fen=payout_fen,
            )  # fmt: skip
            return shop, t
        account = steps.honest_account(seller, rng.randrange(len(self.world.platforms)))
        people = self.world.people
        steps.recycle_online(
            trail, card, t, account, ip=steps.ip_of(seller, 0.02), device=people.devices[seller],
            payout=self._payout_online(seller), payout_fen=payout_fen,
            seller_msisdn=self.world.numbers.msisdn[people.numbers[seller][0]],
        )  # fmt: skip
        return self.world.platforms[account.platform], t + 15 * MINUTE

    def _finish_from(self, trail: Trail, card: Card, t: int, recycler: Any) -> tuple[int, int]:
        """After intake: a platform may spend the PIN at once, else resales to a provider."""
        rng = self.rng
        if recycler.channel == "online_platform" and rng.random() < 0.15:
            number = self.steps.customer(card.issuer)
            t += rng.randrange(MINUTE, 30 * MINUTE)
            hop = self.steps.redeem(
                trail, card, t, recycler.node_id, number, channel="agent", agent=recycler.node_id
            )
            return hop, number
        return self._onward(trail, card, t, recycler)

    def _finished(
        self, trail: Trail, card: Card, t: int, recycler: Any, typology: str | None, *,
        stolen: bool, ring: Ring | None, buyer: str,
    ) -> Truth:  # fmt: skip
        """The card's way from intake to redemption, then its ground truth."""
        hop, number = self._finish_from(trail, card, t, recycler)
        return self._truth(
            card, trail, typology, stolen=stolen, ring=ring, buyer=buyer, redeem_hop=hop,
            redeem_number=number,
        )  # fmt: skip

    def _ring_finished(
        self, trail: Trail, card: Card, t: int, recycler: Any, ring: Ring, *, buyer: str
    ) -> Truth:
        """A ring's card, bought with a victim's or stolen money, on its way from the intake
        at ``t``; the ring's typology is the card's."""
        return self._finished(
            trail, card, t + 20 * MINUTE, recycler, ring.typology, stolen=True, ring=ring,
            buyer=buyer,
        )  # fmt: skip

    # -- honest --------------------------------------------------------------------------

    def honest(self, _room: int) -> list[Truth]:
        """Someone recycles a card they bought or were given (a gift card, 福利)."""
        steps = self.steps
        rng = self.rng
        card = steps.new_cards(self._issuer(), 1)[0]
        trail = Trail()
        t = rng.randrange(0, _LATEST_START)
        seller = rng.randrange(self.world.honest)
        if rng.random() < 0.6:
            buyer = person(seller)
            node, payment = self._sale_node_and_payment(card, seller)
            steps.sold_hop(
                trail, card, t, Sale(node, buyer, payment, card.face * 100, steps.order_ref())
            )
        else:
            org = rng.randrange(self.world.orgs)
            buyer = f"org-{org:04d}"
            node = rng.choice(self.world.retailers)
            payment = ("bank_card", f"bank:{self.world.org_accounts[org]}")
            price = card.face * 100
            steps.sold_hop(trail, card, t, Sale(node, buyer, payment, price, steps.order_ref()))
            t += rng.randrange(HOUR, 10 * DAY)
            trail.hop("handover", buyer, person(seller), t, [])
        t += rng.randrange(HOUR, 20 * DAY)
        recycler, t = self._honest_recycle(trail, card, t, seller)
        return [
            self._finished(trail, card, t, recycler, None, stolen=False, ring=None, buyer=buyer)
        ]

    # -- fraud ---------------------------------------------------------------------------

    def _ring(self, typology: str) -> Ring:
        return self.rng.choice(self.world.rings[typology])

    def _account(self, ring: Ring, platforms: tuple[int, ...]) -> Account:
        return self.rng.choice([a for a in ring.accounts if a.platform in platforms])

    def _ring_submit(
        self, trail: Trail, card: Card, t: int, ring: Ring, account: Account, *,
        payout: tuple[str, str | None] | None = None,
        payout_rate: tuple[float, float] = (0.8, 0.92),
        pin_only: bool = False, msisdn: str | None = None,
    ) -> Any:  # fmt: skip
        """A ring member sells the card through one of the ring's platform accounts."""
        rng = self.rng
        steps = self.steps
        steps.recycle_online(
            trail, card, t, account, ip=steps.ip_of(account.member, ring.vpn),
            device=rng.choice(ring.devices), payout=payout or rng.choice(ring.payouts),
            payout_fen=int(card.face * 100 * rng.uniform(*payout_rate)),
            seller_msisdn=msisdn, pin_only=pin_only,
        )  # fmt: skip
        return self.world.platforms[account.platform]

    def _ring_sell_offline(
        self, trail: Trail, card: Card, t: int, shop: Any, *, who: int, identity: int,
        id_check: str, payout_rate: tuple[float, float],
        payout: tuple[str, str | None] = ("cash", None),
    ) -> Any:  # fmt: skip
        """A ring member sells the card at an offline shop for ``payout_rate`` of face value."""
        self.steps.recycle_offline(
            trail, card, t, shop, who=who, identity=identity, id_check=id_check, payout=payout,
            payout_fen=int(card.face * 100 * self.rng.uniform(*payout_rate)),
        )  # fmt: skip
        return shop

    def _victim_order(
        self, node: Any, victim: int, cards: list[Card], t0: int | None = None
    ) -> tuple[int, list[tuple[Card, Trail]]]:
        """A victim (or T4's gambler) buys ``cards`` at face value in one order at ``node``,
        at ``t0`` or a time drawn now: when, and the trail each card starts."""
        steps = self.steps
        payment = self._account_payment(victim)
        order = steps.order_ref()
        if t0 is None:
            t0 = self.rng.randrange(0, _LATEST_START)
        bought = []
        for card in cards:
            trail = Trail()
            sale = Sale(node, person(victim), payment, card.face * 100, order)
            steps.sold_hop(trail, card, t0, sale)
            bought.append((card, trail))
        return t0, bought

    def _sent_and_sold(
        self, trail: Trail, card: Card, t: int, ring: Ring, account: Account, *, victim: int,
        pin_only: bool = False,
    ) -> Any:  # fmt: skip
        """The victim sends the PIN to a ring member, who sells it a minute later (at ``t``)."""
        trail.hop("handover", person(victim), person(account.member), t - MINUTE, [])
        return self._ring_submit(trail, card, t, ring, account, pin_only=pin_only)

    def _to_ring_party(self, trail: Trail, t: int, ring: Ring, holder: int, detail: str) -> str:
        """``holder`` sends the PIN to the ring's party, which keeps no records and which no
        record links to ``holder`` (resale_unrecorded); returns the party."""
        party = f"x-{ring.ring_id}"
        hop = trail.hop("handover", person(holder), party, t, [])
        trail.brk(hop, "resale_unrecorded", detail)
        trail.sellers.append(person(self.rng.choice(ring.members)))
        return party

    def _sold_by_party(
        self, trail: Trail, card: Card, t: int, party: str, node: Any, *,
        rate: tuple[float, float],
    ) -> None:  # fmt: skip
        """A party without a node sells the card to ``node`` (which records it) at ``rate``
        of face value."""
        price = int(card.face * 100 * self.rng.uniform(*rate))
        self.steps.transfer(trail, card, t, Leg(None, party, node, node.node_id), price)

    def _agent_topup(
        self, trail: Trail, card: Card, t: int, provider: Any, ring: Ring, *, stolen: bool,
        buyer: int, avoid: Collection[int] = (),
    ) -> Truth:  # fmt: skip
        """``provider`` spends the card on an ordinary customer's number (a customer who is
        none of ``avoid``) by agent channel; the card's truth, of the ring's typology."""
        steps = self.steps
        number = steps.customer(card.issuer)
        while self.world.numbers.user[number] in avoid:
            number = steps.customer(card.issuer)
        hop = steps.redeem(
            trail, card, t, provider.node_id, number, channel="agent", agent=provider.node_id
        )
        return self._truth(
            card, trail, ring.typology, stolen=stolen, ring=ring, buyer=person(buyer),
            redeem_hop=hop, redeem_number=number,
        )  # fmt: skip

    def t1_brushing(self, room: int) -> list[Truth]:
        """T1: a victim buys an order of cards and sends the PINs; a ring sells them at once."""
        steps = self.steps
        rng = self.rng
        ring = self._ring("T1")
        victim = rng.randrange(self.world.honest)
        cards = steps.new_cards(self._issuer(), min(room, rng.randint(2, 5)))
        shop = self.world.nodes["retail-03"]  # the online card shop
        payment = self._account_payment(victim)
        order = steps.order_ref()
        t0 = rng.randrange(0, _LATEST_START)
        out = []
        for card in cards:
            trail = Trail()
            price = int(card.face * 100 * rng.uniform(1.0, 1.1))  # bought above face value
            steps.sold_hop(trail, card, t0, Sale(shop, person(victim), payment, price, order))
            t = t0 + rng.randrange(2 * MINUTE, 40 * MINUTE)
            account = self._account(ring, (0, 1))
            recycler = self._sent_and_sold(
                trail, card, t, ring, account, victim=victim, pin_only=rng.random() < 0.3
            )
            if rng.random() < 0.2:
                retry = rng.choice([a for a in ring.accounts if a.platform != account.platform])
                ip = steps.ip_of(retry.member, ring.vpn)
                t_retry = t + rng.randrange(5 * MINUTE, 20 * MINUTE)  # before it moves on
                steps.attempt(trail, card, t_retry, retry, ip=ip, device=rng.choice(ring.devices))
            out.append(self._ring_finished(trail, card, t, recycler, ring, buyer=person(victim)))
        return out

    def t2_gift_card_pin(self, room: int) -> list[Truth]:
        """T2: a victim is told to buy large gift cards, mostly e-cards, and send the PINs
        (卡密); the ring sells them within the hour through an account opened for it."""
        steps = self.steps
        rng = self.rng
        ring = self._ring("T2")
        victim = rng.randrange(self.world.honest)
        issuer = rng.weighted(tuple(_T2_FACES), (70, 30))
        face = rng.weighted(*_T2_FACES[issuer])
        cards = steps.new_cards(issuer, min(room, rng.randint(1, 3)), face)
        retailers = self.world.retailers
        node = self.world.issuers[issuer] if rng.random() < 0.75 else rng.choice(retailers)
        platform = rng.randrange(len(self.world.platforms))
        account = steps.new_account(rng.choice(ring.members), platform)  # a first-time seller
        t0, bought = self._victim_order(node, victim, cards)
        out = []
        for card, trail in bought:
            t = t0 + rng.randrange(5 * MINUTE, 40 * MINUTE)  # intake done within the hour
            recycler = self._sent_and_sold(trail, card, t, ring, account, victim=victim)
            out.append(self._ring_finished(trail, card, t, recycler, ring, buyer=person(victim)))
        return out

    def t3_slow_topup(self, room: int) -> list[Truth]:
        """T3: victims' cards fund 'slow top-ups' of ordinary customers through agent layers."""
        steps = self.steps
        rng = self.rng
        ring = self._ring("T3")
        victim = rng.randrange(self.world.honest)
        issuer = self._issuer()
        cards = steps.new_cards(issuer, min(room, rng.randint(1, 3)))
        t0, bought = self._victim_order(self.world.issuers[issuer], victim, cards)
        out = []
        for card, trail in bought:
            t = t0 + rng.randrange(5 * MINUTE, 2 * HOUR)
            detail = "PIN sent to a ring that keeps no records"
            party = self._to_ring_party(trail, t, ring, victim, detail)
            agent = rng.choice([*self.world.layers[1], *self.world.layers[2]])
            t += rng.randrange(10 * MINUTE, 3 * HOUR)
            self._sold_by_party(trail, card, t, party, agent, rate=(0.80, 0.88))
            layers = 1 if agent in self.world.layers[2] else rng.randint(1, 2)
            holder, t = steps.distribute(trail, card, t, agent, layers)
            t += rng.randrange(24 * HOUR, 72 * HOUR)  # the deferred 'slow' fulfilment
            out.append(self._agent_topup(trail, card, t, holder, ring, stolen=True, buyer=victim))
        return out

    def t4_mismatching(self, room: int) -> list[Truth]:
        """T4: a shell top-up company takes gamblers' deposits as e-cards each gambler buys
        in the carrier's app, and sells the PINs at a high rebate to a provider, which spends
        them on ordinary customers' top-up orders (话费错配)."""
        steps = self.steps
        rng = self.rng
        ring = self._ring("T4")
        provider = rng.choice(self.world.topups)  # the provider the company deals with
        session = rng.randrange(0, _LATEST_START)  # the deposits come within six hours
        gamblers = rng.sample(range(self.world.honest), rng.randint(2, 5))
        detail = "PIN sent to a shell top-up company that keeps no records"
        out: list[Truth] = []
        for gambler in gamblers:
            if len(out) >= room:
                break
            issuer = self._issuer()
            cards = steps.new_cards(issuer, min(room - len(out), rng.randint(1, 3)))
            t0 = session + rng.randrange(0, 6 * HOUR)
            _, bought = self._victim_order(self.world.issuers[issuer], gambler, cards, t0)
            for card, trail in bought:
                t = t0 + rng.randrange(MINUTE, 10 * MINUTE)
                party = self._to_ring_party(trail, t, ring, gambler, detail)
                t += rng.randrange(MINUTE, 30 * MINUTE)
                self._sold_by_party(trail, card, t, party, provider, rate=_T4_RATE)
                t += rng.randrange(MINUTE, 20 * MINUTE)  # matched to a waiting top-up order
                out.append(self._agent_topup(
                    trail, card, t, provider, ring, stolen=False, buyer=gambler, avoid=gamblers,
                ))  # fmt: skip
        return out

    def t5_stolen_credit_card(self, room: int) -> list[Truth]:
        """T5: a fresh stolen credit card buys a spree of cards, resold within hours."""
        steps = self.steps
        rng = self.rng
        ring = self._ring("T5")
        thief = rng.choice(ring.members)
        owner = rng.randrange(self.world.honest)
        stolen = ("credit_card", f"bank:{bank_card(rng, credit=True)}")
        t = rng.randrange(0, _LATEST_START)
        out = []
        for _ in range(min(room, rng.randint(4, 12))):
            issuer = self._issuer()
            card = steps.new_cards(issuer, 1)[0]
            trail = Trail()
            t += rng.randrange(2 * MINUTE, 25 * MINUTE)
            node = rng.choice([*self.world.retailers, self.world.issuers[issuer]])
            steps.sold_hop(
                trail,
                card,
                t,
                Sale(node, person(thief), stolen, card.face * 100, steps.order_ref()),
            )
            t_sell = t + rng.randrange(20 * MINUTE, 6 * HOUR)
            if rng.random() < 0.8:
                account = self._account(ring, (0, 1, 2))
                recycler = self._ring_submit(trail, card, t_sell, ring, account)
            else:
                recycler = self._ring_sell_offline(
                    trail, card, t_sell, rng.choice(self.world.shops), who=thief,
                    identity=owner if rng.random() < 0.5 else thief, id_check="manual_copy",
                    payout_rate=(0.8, 0.9),
                )  # fmt: skip
            out.append(
                self._ring_finished(trail, card, t_sell, recycler, ring, buyer=person(thief))
            )
        return out

    def t6_score_running(self, _room: int) -> list[Truth]:
        """T6: ring sellers' payouts go to a few rented (mule) accounts, shared and rotated."""
        steps = self.steps
        rng = self.rng
        ring = self._ring("T6")
        member = rng.choice(ring.members)
        card = steps.new_cards(self._issuer(), 1)[0]
        trail = Trail()
        t = rng.randrange(0, _LATEST_START)
        node, payment = self._sale_node_and_payment(card, member)
        steps.sold_hop(
            trail, card, t, Sale(node, person(member), payment, card.face * 100, steps.order_ref())
        )
        t += rng.randrange(HOUR, 3 * DAY)
        payout = ring.payouts[0] if rng.random() < 0.6 else rng.choice(ring.payouts)
        account = self._account(ring, (0, 1, 2))
        recycler = self._ring_submit(
            trail, card, t, ring, account, payout=payout, payout_rate=(0.9, 0.97)
        )
        return [self._ring_finished(trail, card, t, recycler, ring, buyer=person(member))]

    def t7_two_cards(self, _room: int) -> list[Truth]:
        """T7: traded phone cards: sellers rotate MVNO/IoT numbers, or cards end on them."""
        steps = self.steps
        rng = self.rng
        ring = self._ring("T7")
        issuer = self._issuer()
        card = steps.new_cards(issuer, 1)[0]
        trail = Trail()
        t = rng.randrange(0, _LATEST_START)
        ring_numbers = [n for numbers in ring.numbers.values() for n in numbers]
        if rng.random() < 0.5:  # seller side: many numbers, IoT sign-ups
            member = rng.choice(ring.members)
            node, payment = self._sale_node_and_payment(card, member)
            steps.sold_hop(
                trail,
                card,
                t,
                Sale(node, person(member), payment, card.face * 100, steps.order_ref()),
            )
            t += rng.randrange(HOUR, 5 * DAY)
            msisdn = self.world.numbers.msisdn[rng.choice(ring_numbers)]
            account = self._account(ring, (0, 1, 2))
            recycler = self._ring_submit(trail, card, t, ring, account, msisdn=msisdn)
            hop, number = self._finish_from(trail, card, t + 20 * MINUTE, recycler)
            stolen, buyer = rng.random() < 0.5, person(member)
        else:  # redemption side: an honest card bought from a pool, spent on traded numbers
            seller = rng.randrange(self.world.honest)
            buyer = person(seller)
            node, payment = self._sale_node_and_payment(card, seller)
            steps.sold_hop(
                trail, card, t, Sale(node, buyer, payment, card.face * 100, steps.order_ref())
            )
            t += rng.randrange(HOUR, 10 * DAY)
            recycler, t = self._honest_recycle(trail, card, t, seller)
            holder, t = steps.distribute(trail, card, t, recycler, rng.randint(1, 3))
            party = f"x-{ring.ring_id}"
            t += rng.randrange(10 * MINUTE, 6 * HOUR)
            price = int(card.face * 100 * rng.uniform(0.95, 0.99))
            steps.transfer(trail, card, t, Leg(holder, holder.node_id, None, party), price)
            number = rng.choice(ring.numbers[issuer])
            t += rng.randrange(MINUTE, 2 * DAY)
            ip = steps.ip_of(self.world.numbers.user[number], ring.vpn)
            hop = steps.redeem(trail, card, t, party, number, channel="web", ip=ip)
            stolen = False
        return [self._truth(
            card, trail, "T7", stolen=stolen, ring=ring, buyer=buyer, redeem_hop=hop,
            redeem_number=number,
        )]  # fmt: skip

    def t8_fencing(self, room: int) -> list[Truth]:
        """T8: a ring member sells a batch of victims' cards to the complicit shop in one
        visit, and the shop pays far below the market floor (收赃)."""
        steps = self.steps
        rng = self.rng
        ring = self._ring("T8")
        member = rng.choice(ring.members)
        fence = self.world.nodes[FENCING_SHOP]
        check = rng.weighted(_SHOP_CHECKS, (40, 20, 40))
        payout = steps.payment_of(member, ("cash", "wechat", "alipay"), (70, 15, 15))
        t = rng.randrange(7 * DAY, _LATEST_START)  # the visit
        out = []
        for _ in range(min(room, rng.randint(4, 10))):
            card = steps.new_cards(self._issuer(), 1)[0]
            trail = Trail()
            victim = rng.randrange(self.world.honest)
            node, payment = self._sale_node_and_payment(card, victim)
            t_sale = t - rng.randrange(HOUR, 7 * DAY)
            sale = Sale(node, person(victim), payment, card.face * 100, steps.order_ref())
            steps.sold_hop(trail, card, t_sale, sale)
            t_sent = t_sale + rng.randrange(5 * MINUTE, HOUR)
            trail.hop("handover", person(victim), person(member), t_sent, [])
            t += rng.randrange(MINUTE, 5 * MINUTE)
            self._ring_sell_offline(
                trail, card, t, fence, who=member, identity=member, id_check=check,
                payout=payout, payout_rate=_FENCE_RATE,
            )  # fmt: skip
            out.append(self._ring_finished(trail, card, t, fence, ring, buyer=person(victim)))
        return out

    def t9_virtual_currency(self, _room: int) -> list[Truth]:
        """T9: fraud money turned into cards, sold at a steep discount for crypto or cash."""
        steps = self.steps
        rng = self.rng
        ring = self._ring("T9")
        member = rng.choice(ring.members)
        card = steps.new_cards(self._issuer(), 1)[0]
        trail = Trail()
        t = rng.randrange(0, _LATEST_START)
        mule = rng.randrange(self.world.honest)  # paid from a mule's account
        node = rng.choice(self.world.retailers)
        payment = steps.payment_of(mule, ("alipay", "bank_card"), (60, 40))
        steps.sold_hop(
            trail, card, t, Sale(node, person(member), payment, card.face * 100, steps.order_ref())
        )
        t += rng.randrange(HOUR, 2 * DAY)
        if rng.random() < 0.7:
            wallet = rng.choice([p for p in ring.payouts if p[0] == "crypto"])
            account = self._account(ring, (0, 1, 2))
            recycler: Any = self._ring_submit(
                trail, card, t, ring, account, payout=wallet, payout_rate=_T9_RATE
            )
        else:
            recycler = self._ring_sell_offline(
                trail, card, t, rng.choice(self.world.shops), who=member, identity=member,
                id_check="id_card_ocr", payout_rate=_T9_RATE,
            )  # fmt: skip
        return [self._ring_finished(trail, card, t, recycler, ring, buyer=person(member))]
