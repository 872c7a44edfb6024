"""Known formats of prepaid top-up and gift cards, as validation hints per issuer.

No carrier publishes a specification (domain brief §1.2): the lengths below come from
payment gateways and forums. A card that does not fit is therefore accepted with a
warning; only characters no card uses, or an empty value, are hard errors. Messages give
lengths and character classes, never the serial or the PIN.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from cardtrace.errors import InvalidIdentifier, InvalidInput

__all__ = [
    "CARD_FORMATS",
    "Alphabet",
    "CardFormat",
    "Confidence",
    "IssuerCode",
    "card_code",
    "card_format_warnings",
    "clean_card_code",
    "issuer_code",
    "load_card_formats",
    "pin_like_serial",
]

#: ``digits``: 0-9 only; ``alnum``: ASCII letters and digits.
Alphabet = Literal["digits", "alnum"]
Confidence = Literal["secondary", "unconfirmed"]

_CARD_CODE = re.compile(r"[0-9A-Za-z]+", re.ASCII)

#: An issuer's code (``cmcc``, ``jd``): letters, digits, ``-`` and ``_``, in any case;
#: kept in lower case, so ``CMCC`` and ``cmcc`` are one issuer (and give one card token).
#: Starts with a letter: a code of digits alone is more likely a card number or a PIN in
#: the wrong column, and the issuer is kept in clear.
IssuerCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$", to_lower=True)
]
_ISSUER_CODE = TypeAdapter(IssuerCode)


@dataclass(frozen=True, slots=True)
class CardFormat:
    """What one issuer's cards look like; an empty length set means "not known"."""

    issuer: str
    product: str
    serial_lengths: frozenset[int]
    pin_lengths: frozenset[int]
    serial_alphabet: Alphabet = "digits"
    pin_alphabet: Alphabet = "digits"
    face_values: tuple[int, ...] = ()
    confidence: Confidence = "secondary"
    note: str = ""


def _by_issuer(*formats: CardFormat) -> dict[str, CardFormat]:
    return {card_format.issuer: card_format for card_format in formats}


#: Issuer code -> format hints (domain brief §1.2, sources S3, S18, S19). Pass another
#: mapping to ``card_format_warnings`` to try different hints without editing this table.
CARD_FORMATS: dict[str, CardFormat] = _by_issuer(
    CardFormat(
        "cmcc",
        "China Mobile national card (神州行充值卡, 全国卡)",
        frozenset({17}),
        frozenset({18}),
        face_values=(10, 20, 30, 50, 100, 200, 300, 500, 1000),
        note="1000 yuan seen in one source only",
    ),
    CardFormat(
        "cmcc-jiangsu",
        "China Mobile Jiangsu provincial card (地方卡)",
        frozenset({16}),
        frozenset({17}),
        face_values=(30, 50, 100),
    ),
    CardFormat(
        "cmcc-fujian",
        "China Mobile Fujian provincial card (地方卡)",
        frozenset({16}),
        frozenset({17}),
        face_values=(30, 50, 100),
    ),
    CardFormat(
        "cmcc-zhejiang",
        "China Mobile Zhejiang provincial card (地方卡)",
        frozenset({10}),
        frozenset({8}),
        note="face values 10-100 yuan",
    ),
    CardFormat(
        "cmcc-liaoning",
        "China Mobile Liaoning provincial card (地方卡)",
        frozenset({16}),
        frozenset({21}),
        face_values=(50, 100),
    ),
    CardFormat(
        "cucc",
        "China Unicom national card (一卡充, 联通全国卡)",
        frozenset({15}),
        frozenset({19}),
        face_values=(20, 30, 50, 100, 300, 500),
    ),
    CardFormat(
        "ctcc",
        "China Telecom top-up card (电信充值付费卡, 11888 card)",
        frozenset({19}),
        frozenset({18}),
        face_values=(50, 100),
        note="more face values exist; serial digit 4: 1 national, 2 Guangdong (unconfirmed)",
    ),
    CardFormat(
        "jd-ecard",
        "JD E-card (京东E卡)",
        frozenset(),
        frozenset({16}),
        pin_alphabet="alnum",
        confidence="unconfirmed",
        note="serial format unknown; PIN printed as 4 groups of 4, hyphens stripped",
    ),
    CardFormat(
        "sinopec",
        "Sinopec fuel top-up card (中石化加油卡充值卡)",
        frozenset(),
        frozenset(),
        face_values=(100, 500, 1000),
        confidence="unconfirmed",
        note="formats unclear; the fuel card itself has 19 digits; "
        "an 18-digit PIN is said to mark a provincial card",
    ),
)


def clean_card_code(value: str) -> str:
    """Drop the spaces and hyphens printed between groups (``1234-5678-…``)."""
    return "".join(value.split()).replace("-", "")


def card_code(kind: str, value: str) -> str:
    """A serial or PIN (``kind``) in its one form, so it is digested and looked up alike.

    The separators printed between groups are dropped (:func:`clean_card_code`); what is
    left must not be empty nor hold characters no card uses. Letters are kept in upper
    case: codes with letters (a JD E-card's hex groups) are printed either way and name
    one card. The issuer is not checked: an unknown issuer is a warning
    (:func:`card_format_warnings`), not an error.
    """
    if not (value.isdigit() and value.isascii()):  # C-level tests: the common case passes
        if not value.isalnum():
            value = clean_card_code(value)
            if not value:
                raise InvalidIdentifier(f"card {kind} is empty")
        if not _CARD_CODE.fullmatch(value):
            raise InvalidIdentifier(f"card {kind} may contain only letters A-Z and digits")
        value = value.upper()
    return value


def issuer_code(value: str) -> str:
    """An issuer code as typed by a user, in its one form, or ``InvalidIdentifier``, which
    does not repeat the value: what was typed may be a PIN given in the wrong place."""
    try:
        code: str = _ISSUER_CODE.validate_python(value.strip())
    except ValidationError:
        raise InvalidIdentifier(
            "the issuer is not an issuer code: a letter, then letters, digits, '-' and '_', "
            "e.g. cmcc"
        ) from None
    return code


def card_format_warnings(
    issuer: str,
    serial: str | None,
    pin: str | None,
    formats: Mapping[str, CardFormat] = CARD_FORMATS,
) -> list[tuple[str, str]]:
    """(field, message) pairs for a card that does not fit its issuer's known format."""
    known = formats.get(issuer)
    if known is None:
        return [("issuer", "unknown issuer code; card format not checked")]
    found: list[tuple[str, str]] = []
    for field, value, lengths, alphabet in (
        ("serial", serial, known.serial_lengths, known.serial_alphabet),
        ("pin", pin, known.pin_lengths, known.pin_alphabet),
    ):
        if value is not None:
            found += _mismatches(field, value, lengths, alphabet, issuer)
    return found


def pin_like_serial(
    issuer: str, serial: str | None, formats: Mapping[str, CardFormat] = CARD_FORMATS
) -> str | None:
    """Why ``serial`` must not be stored, or None: it has the length of the issuer's PINs
    and not of its serials, as when an export's serial and PIN columns are swapped.

    A serial is kept in clear and a PIN never is, so such a record is refused, not warned
    about. Only issuers whose serial lengths are known are checked.
    """
    known = formats.get(issuer)
    if serial is None or known is None or not known.serial_lengths:
        return None
    length = len(serial)
    if length in known.serial_lengths or length not in known.pin_lengths:
        return None
    expected = " or ".join(str(n) for n in sorted(known.serial_lengths))
    return (
        f"serial has {length} characters, the length of a {issuer} PIN ({issuer} serials "
        f"have {expected}): refused, since a serial is kept in clear and a PIN never is; "
        "are the serial and PIN columns swapped?"
    )


def _mismatches(
    field: str, value: str, lengths: frozenset[int], alphabet: Alphabet, issuer: str
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if lengths and len(value) not in lengths:
        expected = " or ".join(str(n) for n in sorted(lengths))
        found.append((field, f"{field} has {len(value)} characters, {issuer} uses {expected}"))
    if alphabet == "digits" and not (value.isascii() and value.isdigit()):
        found.append(
            (field, f"{field} has characters other than digits, {issuer} uses digits only")
        )
    return found


class _FormatEntry(BaseModel):
    """One entry of a card-format file (see ``load_card_formats``)."""

    model_config = ConfigDict(extra="forbid")

    issuer: IssuerCode
    product: str = ""
    serial_lengths: list[int] = Field(default_factory=list)
    pin_lengths: list[int] = Field(default_factory=list)
    serial_alphabet: Alphabet = "digits"
    pin_alphabet: Alphabet = "digits"
    face_values: list[int] = Field(default_factory=list)
    note: str = ""


def load_card_formats(
    data: bytes, base: Mapping[str, CardFormat] = CARD_FORMATS
) -> dict[str, CardFormat]:
    """``base`` with the entries of a JSON list added or replaced by issuer.

    Each entry: ``{"issuer": "cmcc-hainan", "serial_lengths": [16], "pin_lengths": [17],
    "pin_alphabet": "digits", "product": "...", "face_values": [...], "note": "..."}``.
    """
    try:
        entries = TypeAdapter(list[_FormatEntry]).validate_json(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"card formats: entry {where}: {first['msg']}") from None
    merged = dict(base)
    for entry in entries:
        merged[entry.issuer] = CardFormat(
            entry.issuer,
            entry.product,
            frozenset(entry.serial_lengths),
            frozenset(entry.pin_lengths),
            entry.serial_alphabet,
            entry.pin_alphabet,
            tuple(entry.face_values),
            "unconfirmed",
            entry.note or "from the node's card-format file",
        )
    return merged
