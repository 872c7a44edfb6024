"""The events a node records about a card, one model per event type.

Every event is flat (one level of fields, so CSV and Parquet carry it column for column)
and shares the :class:`Envelope`. Personal fields are marked :class:`Personal`, the PIN
:class:`Secret`; everything else is a clear, non-personal attribute. Amounts are integers
(fen, or yuan for a face value) so the canonical encoding never meets a float.
"""

from __future__ import annotations

import types
import typing
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from functools import cache
from hashlib import sha1
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)

from cardtrace.domain.cards import (
    CARD_FORMATS,
    CardFormat,
    IssuerCode,
    card_code,
    card_format_warnings,
    pin_like_serial,
)
from cardtrace.domain.handling import Party, Personal, Secret, handling_of
from cardtrace.domain.identifiers import (
    Iccid,
    Imsi,
    IpAddress,
    Msisdn,
    PaymentAccount,
    ResidentIdNumber,
    msisdn_kind,
    resident_id_warnings,
)

__all__ = [
    "EVENT_ID_PATTERN",
    "EVENT_MODELS",
    "EVENT_NAMESPACE",
    "INTEGER_FIELDS",
    "LIST_FIELDS",
    "CardEvent",
    "CardRecycled",
    "CardRedeemed",
    "CardSold",
    "CardTransferred",
    "Channel",
    "ConsentGiven",
    "ConsentWithdrawn",
    "Envelope",
    "Event",
    "LegalBasis",
    "PinVerified",
    "RecordErased",
    "SubscriberRegistered",
    "UsageSummarized",
    "event_adapter",
    "event_id_bytes",
    "event_id_for",
    "event_id_text",
    "event_uuid_for",
    "hidden_in_clear",
]

#: Namespace of the deterministic event ids: uuid5(EVENT_NAMESPACE, node_id + "\n" + source_id).
EVENT_NAMESPACE = uuid.UUID("6f1d3c52-8a47-5d0e-9b61-2c7e4f0a9d13")
_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes
#: An event id as text, the form :func:`event_id_text` gives and leaves hold.
EVENT_ID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def event_id_bytes(node_id: str, source_id: str) -> bytes:
    """The event id cardtrace gives a node's record, as 16 bytes: always the same for it.

    RFC 4122 ``uuid5(EVENT_NAMESPACE, node_id + "\\n" + source_id)``, computed without
    building ``uuid.UUID`` objects, which cost more than the hash on the ingest hot path
    (a test checks it against the standard library).
    """
    name = f"{node_id}\n{source_id}".encode()
    digest = bytearray(sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return bytes(digest)


def event_id_text(event_id: bytes) -> str:
    """16 id bytes in the canonical text form ``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx``."""
    h = event_id.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def event_uuid_for(node_id: str, source_id: str) -> uuid.UUID:
    """:func:`event_id_bytes` as a ``uuid.UUID``."""
    return uuid.UUID(bytes=event_id_bytes(node_id, source_id))


def event_id_for(node_id: str, source_id: str) -> str:
    """:func:`event_id_bytes` as text."""
    return event_id_text(event_id_bytes(node_id, source_id))


class Channel(StrEnum):
    """What kind of party recorded the event."""

    ISSUER = "issuer"
    RETAILER = "retailer"
    OFFLINE_SHOP = "offline_shop"
    ONLINE_PLATFORM = "online_platform"
    DISTRIBUTOR = "distributor"
    CARRIER = "carrier"


class LegalBasis(StrEnum):
    """Why the recording party may collect the data (PIPL art. 13)."""

    CONSENT = "consent"
    CONTRACT = "contract"
    STATUTORY_DUTY = "statutory_duty"
    EMERGENCY = "emergency"
    PUBLIC_INTEREST = "public_interest"
    PUBLISHED = "published"
    OTHER_LAW = "other_law"


_TIME_FORM = "e.g. 2026-01-02T03:04:05+08:00"
_TOO_FINE = (
    "time has more than six fractional digits: cardtrace keeps microseconds "
    "(at most six fractional digits), so it would not store the time as it was sent"
)
_DIGITS = frozenset("0123456789")
#: What follows hh:mm:ss in the usual layout (YYYY-MM-DDThh:mm:ss, the colons at 13 and
#: 16) when the seconds have no fraction: the start of the offset.
_WHOLE_SECONDS = frozenset({"::+", "::-", "::Z"})
#: The offset of every time zone in use (all whole quarter hours) as ``fromisoformat``
#: makes it: one lookup tells it has no seconds, in less time than reading the offset.
_QUARTER_HOURS = frozenset(timezone(timedelta(minutes=m)) for m in range(-1425, 1440, 15))


def _aware(value: object) -> object:
    """A time written as ISO 8601 text with a UTC offset (or an aware datetime), in UTC.

    Parsed here, not by pydantic, which would also read a number, or text of digits
    alone, as seconds or milliseconds since 1970 (guessing which from its size), and
    whose strict mode, used for JSON, takes no text for a datetime. What
    ``fromisoformat`` reads other than it was written is refused, so a time is never
    stored other than it was sent: digits past microseconds (it drops them), a fraction
    of an hour or minute (it reads one of a second) and an offset with seconds (no time
    zone has had one since 1972).
    """
    if isinstance(value, str):
        if value[4:5] != "-":  # seconds since 1970, or ISO 8601's basic format
            raise ValueError(
                f"time must be ISO 8601 text in the extended format (YYYY-MM-DDThh:mm:ss), "
                f"{_TIME_FORM}"
            )
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"time is not a valid ISO 8601 time, {_TIME_FORM}") from None
        # This runs twice per event on ingest: the usual layouts are told by set lookups
        # and one slice, and only other texts are scanned (+0.13 µs on 0.75; timeit).
        if moment.tzinfo not in _QUARTER_HOURS:  # None or a timezone: hashable
            _check_offset(moment)
        # With the offset checked first, a text cannot end in its fraction, so seven
        # digits after the dot are seven digits of fraction.
        shape = value[13:20:3]
        if shape == "::.":  # hh:mm:ss.f
            if value[26:27] in _DIGITS and value[20:27].isdigit():
                raise ValueError(_TOO_FINE)
        elif shape not in _WHOLE_SECONDS:
            _check_fraction(value)
        value = moment
    elif isinstance(value, datetime):
        _check_offset(value)
    else:
        raise ValueError(f"time must be ISO 8601 text, {_TIME_FORM}")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+08:00 is a year before the first
        raise ValueError("time is out of range in UTC") from None


def _check_fraction(text: str) -> None:
    """Refuse a decimal fraction in ``text`` unless it is one of a second, in µs."""
    mark = text.find(".")
    if mark < 0:
        mark = text.find(",")
    if mark < 0:
        return
    digits = text[mark + 1 : mark + 8]
    if len(digits) == 7 and digits.isdigit():
        raise ValueError(_TOO_FINE)
    extended = text[mark - 3] == ":" == text[mark - 6]  # hh:mm:ss.f
    basic = text[mark - 6 : mark].isdigit() and text[mark - 7] not in _DIGITS  # hhmmss.f
    if not (extended or basic):
        raise ValueError(
            f"time has a fraction of an hour or minute; only seconds may have one, {_TIME_FORM}"
        )


def _check_offset(moment: datetime) -> None:
    """Refuse a time with no UTC offset, or one with seconds, which would shift it."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"time must carry a UTC offset, {_TIME_FORM}")
    if offset.seconds % 60 or offset.microseconds:
        raise ValueError(f"UTC offset must be whole minutes, {_TIME_FORM}")


AwareTime = Annotated[datetime, BeforeValidator(_aware)]
NodeId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
SourceId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
Ref = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
Fen = Annotated[int, Field(ge=0, le=10**12)]
#: A count or quantity; bounded so the canonical encoding never meets an unsafe integer.
Count = Annotated[int, Field(ge=0, le=10**12)]
PartyId = Annotated[Ref, Party()]
#: A user name on the recording platform: links only within that node.
_PLATFORM_ACCOUNT = Personal(link="platform_account", node_scoped=True)
Device = Annotated[str, Field(min_length=4, max_length=128, pattern=r"^[0-9A-Za-z:._-]+$")]


class Envelope(BaseModel):
    """Fields every event carries, whoever recorded it."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    schema_version: Annotated[int, Field(ge=1, le=1, description="Only version 1 exists.")] = 1
    node_id: NodeId
    source_id: SourceId = Field(description="The node's own id of the record (idempotency key).")
    channel: Channel
    occurred_at: AwareTime
    recorded_at: AwareTime
    legal_basis: LegalBasis

    @model_validator(mode="after")
    def _recorded_after_occurred(self) -> Self:
        if self.recorded_at < self.occurred_at:
            raise ValueError("recorded_at is earlier than occurred_at")
        return self

    @property
    def event_id(self) -> str:
        return event_id_for(self.node_id, self.source_id)

    def warnings(self, formats: Mapping[str, CardFormat] = CARD_FORMATS) -> list[tuple[str, str]]:
        """Accepted but noteworthy facts, as (field, message) pairs.

        ``formats`` are the card-format hints to check cards against.
        """
        del formats  # only card events have a card to check
        return []

    def refusal(self, formats: Mapping[str, CardFormat] = CARD_FORMATS) -> tuple[str, str] | None:
        """(field, reason) when the event is valid but must not be stored as it is."""
        del formats  # only card events have a card to check
        return _refused_for_hidden(self)


def _card_code(kind: str) -> BeforeValidator:
    """A serial's or PIN's one form (:func:`card_code`); errors name its field."""

    def normal(value: object) -> object:
        return card_code(kind, value) if isinstance(value, str) else value

    return BeforeValidator(normal)


class CardEvent(Envelope):
    """An event about one card: by issuer + serial, or by PIN when no serial is known."""

    issuer: IssuerCode
    # ``Field`` is listed before the cleaning so that pydantic gives its length limit to
    # the string alone (listed after, the limit meets ``None`` too and raises a
    # TypeError); the cleaning still runs first, the limit on the cleaned string.
    serial: Annotated[str | None, Field(max_length=32), _card_code("serial")] = None
    pin: Annotated[str | None, Field(max_length=32), _card_code("PIN"), Secret()] = None
    face_value: Annotated[int, Field(gt=0, le=100_000, description="yuan")]

    @model_validator(mode="after")
    def _card_known(self) -> Self:
        if self.serial is None and self.pin is None:
            raise ValueError("a card needs a serial or a pin")
        return self

    def warnings(self, formats: Mapping[str, CardFormat] = CARD_FORMATS) -> list[tuple[str, str]]:
        return card_format_warnings(self.issuer, self.serial, self.pin, formats)

    def refusal(self, formats: Mapping[str, CardFormat] = CARD_FORMATS) -> tuple[str, str] | None:
        reason = pin_like_serial(self.issuer, self.serial, formats)
        if reason is not None:
            return "serial", reason
        return _refused_for_hidden(self)


#: A hidden value (a PIN, personal data) this long found inside a longer clear value is
#: taken to be that value, not chance; a shorter one only when the clear value equals it.
_FOUND_INSIDE = 11
#: Between the clear values searched as one text: no clear text field may hold it.
_SEP = "\x00"


def _refused_for_hidden(event: Envelope) -> tuple[str, str] | None:
    """(field, reason) when a clear field of ``event`` holds one of its hidden values."""
    found = hidden_in_clear(type(event), event.__dict__)
    if found is None:
        return None
    holder, source = found
    if source in _text_fields(type(event)).secrets:
        return holder, (
            f"{holder} holds the card's PIN: refused, since {holder} is kept in clear and a "
            "PIN never is; was a column copied into it?"
        )
    return holder, (
        f"{holder} holds the record's {source} (personal data): refused, since {holder} is "
        f"kept in clear and {source} is only sealed; was a column copied into it?"
    )


def hidden_in_clear(model: type[Envelope], values: Mapping[str, object]) -> tuple[str, str] | None:
    """(clear field, hidden field) when a field of ``model`` kept in clear holds one of the
    hidden values (the PIN, personal data) of the same event, or None. ``values`` holds
    every field of the model by name, None where absent.

    Held means equal to it or, when that is long, containing it: an export that copied a
    column into another, or built a reference from it. The ledger keeps clear fields for
    good; a hidden value is kept as a token or sealed. A phone number is looked for
    without ``+86`` and a payment account without its scheme (``alipay:``) too, as a
    source writes them elsewhere, and the clear values also without hyphens, for a value
    written in its printed groups (``ORD-9876-5432-1098-7654-32``). This runs for every
    event on ingest: the clear values are searched joined, as one text, and only a hit
    is looked at field by field.
    """
    fields = _text_fields(model)
    clear = _SEP.join([value for name in fields.clear if type(value := values[name]) is str])
    clear = f"{_SEP}{clear}{_SEP}"
    if "-" in clear:  # a value may be written in its printed groups: 138-0013-8000
        clear += clear.replace("-", "")
    for name, scheme in fields.hidden:
        value = values[name]
        if type(value) is not str:
            continue
        core = (value.partition(":")[2] if scheme else value).removeprefix("+86")
        if not core:  # an empty user agent is held by nothing
            continue
        if (
            core in clear
            if len(core) >= _FOUND_INSIDE
            else f"{_SEP}{core}{_SEP}" in clear or f"{_SEP}{value}{_SEP}" in clear
        ):
            for holder in fields.clear:
                if _holds(values[holder], value, core):
                    return holder, name
    return None


def _holds(clear: object, value: str, core: str) -> bool:
    """Whether the ``clear`` value holds a hidden ``value`` (see :func:`hidden_in_clear`)."""
    if not isinstance(clear, str):
        return False
    return any(
        text in (value, core) or (len(core) >= _FOUND_INSIDE and core in text)
        for text in (clear, clear.replace("-", ""))
    )


@dataclass(frozen=True, slots=True)
class _TextFields:
    """The text fields of one event model: kept in clear, and hidden (name, whether a
    payment account: ``scheme:identifier``), and which of the hidden are secrets."""

    clear: tuple[str, ...]
    hidden: tuple[tuple[str, bool], ...]
    secrets: frozenset[str]


@cache
def _text_fields(model: type[Envelope]) -> _TextFields:
    clear: list[str] = []
    hidden: list[tuple[str, bool]] = []
    secrets: set[str] = set()
    for name, info in model.model_fields.items():
        marker = handling_of(info)
        if isinstance(marker, Secret):
            hidden.append((name, False))
            secrets.add(name)
        elif isinstance(marker, Personal):
            hidden.append((name, marker.link == "account"))
        elif _is_text(info.annotation):
            clear.append(name)
    return _TextFields(tuple(clear), tuple(hidden), frozenset(secrets))


def _is_text(annotation: object) -> bool:
    """Whether a field's type is ``str``, constrained or not, or such a type or None."""
    arms = _base_types(annotation)
    return bool(arms) and all(arm is str for arm in arms)


def _base_types(annotation: object) -> tuple[object, ...]:
    """The types a field of type ``annotation`` may hold besides None, constraints taken
    off (``Annotated[str, ...] | None`` -> ``(str,)``)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _base_types(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return tuple(
            base
            for arm in typing.get_args(annotation)
            if arm is not type(None)
            for base in _base_types(arm)
        )
    return (annotation,)


class CardSold(CardEvent):
    """Purchase of a card from an issuer or retailer."""

    type: Literal["card.sold"]
    price_fen: Fen
    payment_method: Literal["bank_card", "credit_card", "alipay", "wechat", "cash", "crypto"]
    payment_account: Annotated[PaymentAccount | None, Personal(link="account")] = None
    merchant_id: PartyId
    order_ref: Ref | None = None


class PinVerified(CardEvent):
    """A recycler checks a PIN (卡密验证)."""

    type: Literal["pin.verified"]
    result: Literal["valid", "used", "invalid"]
    balance_fen: Fen | None = None
    submitter_account: Annotated[str, Field(min_length=1, max_length=64), _PLATFORM_ACCOUNT]
    ip: Annotated[IpAddress | None, Personal(link="ip")] = None
    device_fingerprint: Annotated[Device | None, Personal(link="device")] = None
    user_agent: Annotated[str | None, Field(max_length=512), Personal()] = None


class CardRecycled(CardEvent):
    """A shop or platform buys a card from a seller (回收)."""

    type: Literal["card.recycled"]
    seller_account: Annotated[str | None, Field(min_length=1, max_length=64), _PLATFORM_ACCOUNT] = (
        None
    )
    seller_name: Annotated[str | None, Field(min_length=1, max_length=64), Personal()] = None
    seller_id_number: Annotated[ResidentIdNumber | None, Personal(link="resident_id")] = None
    seller_msisdn: Annotated[Msisdn | None, Personal(link="msisdn")] = None
    id_check: Literal["id_card_ocr", "face", "e_form_face", "manual_copy", "none"]
    payout_method: Literal["alipay", "wechat", "bank_card", "cash", "crypto"]
    payout_account: Annotated[PaymentAccount | None, Personal(link="account")] = None
    payout_fen: Fen
    premises_id: PartyId = Field(description="Store or platform that took the card.")
    ip: Annotated[IpAddress | None, Personal(link="ip")] = None
    device_fingerprint: Annotated[Device | None, Personal(link="device")] = None
    cctv_clip: Annotated[Ref | None, Personal()] = None
    snapshot_ref: Ref | None = None

    def warnings(self, formats: Mapping[str, CardFormat] = CARD_FORMATS) -> list[tuple[str, str]]:
        return super().warnings(formats) + _id_number_warnings(
            "seller_id_number", self.seller_id_number
        )


def _id_number_warnings(name: str, number: str | None) -> list[tuple[str, str]]:
    return [] if number is None else [(name, m) for m in resident_id_warnings(number)]


class CardTransferred(CardEvent):
    """Resale of a card from one party to the next (分销)."""

    type: Literal["card.transferred"]
    from_party: PartyId
    to_party: PartyId
    price_fen: Fen
    batch_ref: Ref | None = None
    payment_ref: Ref | None = None


class CardRedeemed(CardEvent):
    """A carrier credits the card's value to a phone number (充值)."""

    type: Literal["card.redeemed"]
    target_msisdn: Annotated[Msisdn, Personal(link="msisdn")]
    redeem_channel: Literal["sms", "app", "ussd", "hotline", "web", "agent"]
    requester_ip: Annotated[IpAddress | None, Personal(link="ip")] = None
    agent_id: Annotated[Ref | None, Party()] = None

    def warnings(self, formats: Mapping[str, CardFormat] = CARD_FORMATS) -> list[tuple[str, str]]:
        found = super().warnings(formats)
        kind = msisdn_kind(self.target_msisdn)
        if kind in {"iot", "data"}:
            found.append(("target_msisdn", f"{kind} number"))
        return found


class SubscriberRegistered(Envelope):
    """A carrier's real-name registration of a number (实名)."""

    type: Literal["subscriber.registered"]
    msisdn: Annotated[Msisdn, Personal(link="msisdn")]
    imsi: Annotated[Imsi | None, Personal(link="imsi")] = None
    iccid: Annotated[Iccid | None, Personal(link="iccid")] = None
    number_type: Literal["personal", "iot", "mvno", "data"]
    subject_name: Annotated[str | None, Field(min_length=1, max_length=64), Personal()] = None
    subject_id_number: Annotated[ResidentIdNumber | None, Personal(link="resident_id")] = None
    verification: Literal["id_card", "face", "agent", "none"]

    def warnings(self, formats: Mapping[str, CardFormat] = CARD_FORMATS) -> list[tuple[str, str]]:
        return super().warnings(formats) + _id_number_warnings(
            "subject_id_number", self.subject_id_number
        )


class UsageSummarized(Envelope):
    """A carrier's monthly usage summary of a number (话费消费)."""

    type: Literal["usage.summarized"]
    msisdn: Annotated[Msisdn, Personal(link="msisdn")]
    period: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
    calls: Count
    call_seconds: Count
    distinct_contacts: Count
    data_mb: Count
    top_cells: Annotated[list[Ref], Field(max_length=10), Personal()] = Field(default_factory=list)


class _Consent(Envelope):
    subject_account: Annotated[
        str | None, Field(min_length=1, max_length=64), _PLATFORM_ACCOUNT
    ] = None
    subject_msisdn: Annotated[Msisdn | None, Personal(link="msisdn")] = None
    purposes: Annotated[list[Ref], Field(min_length=1, max_length=16)]
    notice_version: Ref

    @model_validator(mode="after")
    def _subject_named(self) -> Self:
        if self.subject_account is None and self.subject_msisdn is None:
            raise ValueError("consent needs subject_account or subject_msisdn")
        return self


class ConsentGiven(_Consent):
    """A data subject consents to purposes under a notice version."""

    type: Literal["consent.given"]


class ConsentWithdrawn(_Consent):
    """A data subject withdraws consent (not retroactive, PIPL art. 15)."""

    type: Literal["consent.withdrawn"]


class RecordErased(Envelope):
    """Personal data of an earlier event of the same node was erased; the erasure is
    itself recorded, and storing it deletes that event's sealed personal data too."""

    type: Literal["record.erased"]
    target_event_id: Annotated[
        str,
        Field(
            pattern=f"^{EVENT_ID_PATTERN}$",
            description="The cardtrace event id of the node's record whose personal data "
            "was erased, as text (lower-case hex in groups of 8-4-4-4-12).",
        ),
    ]
    reason: Literal["retention_expired", "subject_request", "court_order"]


Event = Annotated[
    CardSold
    | PinVerified
    | CardRecycled
    | CardTransferred
    | CardRedeemed
    | SubscriberRegistered
    | UsageSummarized
    | ConsentGiven
    | ConsentWithdrawn
    | RecordErased,
    Field(discriminator="type"),
]

#: Event type name -> model, in the order of the card's lifecycle.
EVENT_MODELS: dict[str, type[Envelope]] = {
    "card.sold": CardSold,
    "pin.verified": PinVerified,
    "card.recycled": CardRecycled,
    "card.transferred": CardTransferred,
    "card.redeemed": CardRedeemed,
    "subscriber.registered": SubscriberRegistered,
    "usage.summarized": UsageSummarized,
    "consent.given": ConsentGiven,
    "consent.withdrawn": ConsentWithdrawn,
    "record.erased": RecordErased,
}

#: Names of the fields, of any event type, that hold lists.
LIST_FIELDS = frozenset(
    name
    for model in EVENT_MODELS.values()
    for name, info in model.model_fields.items()
    if typing.get_origin(info.annotation) is list
)


def _is_integer(annotation: object) -> bool:
    """Whether a field of type ``annotation`` holds an integer (optional or constrained)."""
    return int in _base_types(annotation)


#: Names of the fields, of any event type, that hold integers (amounts and counts).
INTEGER_FIELDS = frozenset(
    name
    for model in EVENT_MODELS.values()
    for name, info in model.model_fields.items()
    if _is_integer(info.annotation)
)

_ADAPTER: TypeAdapter[Event] | None = None


def event_adapter() -> TypeAdapter[Event]:
    """The validator of any event (built once, on first use)."""
    global _ADAPTER  # noqa: PLW0603 - a lazily built, immutable singleton
    if _ADAPTER is None:
        _ADAPTER = TypeAdapter(Event)
    return _ADAPTER
