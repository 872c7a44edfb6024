"""Synthetic identifiers with valid check digits: ID numbers, phone numbers, IMSI, ICCID, cards.

The check-digit rules are those of domain.md §4 (ISO 7064 MOD 11-2 for resident ID numbers,
Luhn for ICCIDs and bank cards). They are computed here, privately, so the simulator does
not wait on :mod:`cardtrace.domain.identifiers`; a test checks both agree once it exists.
"""

from __future__ import annotations

import random

__all__ = [
    "CARRIERS",
    "bank_card",
    "iccid",
    "imsi",
    "iot_number",
    "legacy_id",
    "luhn_digit",
    "mobile_number",
    "mod11_2_digit",
    "mvno_number",
    "resident_id",
]

CARRIERS = ("cmcc", "cucc", "ctcc")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

#: Basic 11-digit prefixes by original carrier (domain.md §4.2).
_MOBILE_PREFIXES: dict[str, tuple[str, ...]] = {
    "cmcc": (
        *(f"134{d}" for d in range(9)),
        *(
            f"{p}{d}"
            for p in (135, 136, 137, 138, 139, 150, 151, 152, 157, 158, 159)
            for d in range(10)
        ),
        *(f"{p}{d}" for p in (172, 178, 182, 183, 184, 187, 188, 195, 197, 198) for d in range(10)),
    ),
    "cucc": tuple(
        f"{p}{d}"
        for p in (130, 131, 132, 155, 156, 166, 175, 176, 185, 186, 196)
        for d in range(10)
    ),
    "ctcc": (
        "1349",
        *(
            f"{p}{d}"
            for p in (133, 153, 173, 177, 180, 181, 189, 190, 191, 193, 199)
            for d in range(10)
        ),
    ),
}

#: Virtual-operator (MVNO) prefixes by host carrier (domain.md §4.2).
_MVNO_PREFIXES: dict[str, tuple[str, ...]] = {
    "cmcc": ("1650", "1651", "1652", "1703", "1705", "1706"),
    "cucc": ("1670", "1671", "1710", "1711", "1704", "1707", "1708", "1709"),
    "ctcc": ("1620", "1621", "1700", "1701", "1702"),
}

#: 13-digit IoT prefixes (domain.md §4.2; the 1064x split by carrier is unconfirmed).
_IOT_PREFIXES: dict[str, tuple[str, ...]] = {
    "cmcc": ("10648", "14400", "14410", "14800"),
    "cucc": ("10646", "14600"),
    "ctcc": ("10649", "14100"),
}

_MNC: dict[str, tuple[str, ...]] = {
    "cmcc": ("00", "02", "04", "07"),
    "cucc": ("01", "06", "09"),
    "ctcc": ("03", "05", "11"),
}

_ICCID_ISSUER: dict[str, tuple[str, ...]] = {
    "cmcc": ("00", "02", "04", "07"),
    "cucc": ("01", "06", "09"),
    "ctcc": ("03", "11"),
}


def mod11_2_digit(first17: str) -> str:
    """The check character of an 18-character resident ID number (ISO 7064 MOD 11-2)."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def luhn_digit(payload: str) -> str:
    """The Luhn check digit to append to ``payload``."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def resident_id(rng: random.Random, area: str, birth: str) -> str:
    """A valid 18-character ID number for a county ``area`` code and a YYYYMMDD ``birth``."""
    first17 = f"{area}{birth}{rng.randrange(1000):03d}"
    return first17 + mod11_2_digit(first17)


def legacy_id(id18: str) -> str:
    """The 15-digit (GB 11643-1989) form of an 18-character ID number: YYMMDD, no check."""
    return id18[:6] + id18[8:14] + id18[14:17]


def _digits(rng: random.Random, n: int) -> str:
    return f"{rng.randrange(10**n):0{n}d}"


def mobile_number(rng: random.Random, carrier: str) -> str:
    """An 11-digit basic-carrier number with one of ``carrier``'s original prefixes."""
    prefix = rng.choice(_MOBILE_PREFIXES[carrier])
    return prefix + _digits(rng, 11 - len(prefix))


def mvno_number(rng: random.Random, carrier: str) -> str:
    """An 11-digit virtual-operator number hosted by ``carrier``."""
    prefix = rng.choice(_MVNO_PREFIXES[carrier])
    return prefix + _digits(rng, 11 - len(prefix))


def iot_number(rng: random.Random, carrier: str) -> str:
    """A 13-digit IoT number of ``carrier``."""
    prefix = rng.choice(_IOT_PREFIXES[carrier])
    return prefix + _digits(rng, 13 - len(prefix))


def imsi(rng: random.Random, carrier: str) -> str:
    """A 15-digit IMSI: MCC 460, one of the carrier's MNCs, a 10-digit MSIN."""
    return "460" + rng.choice(_MNC[carrier]) + _digits(rng, 10)


def iccid(rng: random.Random, carrier: str) -> str:
    """A 20-digit ICCID: 89 86, the carrier's issuer code, 13 digits, a Luhn digit."""
    payload = "8986" + rng.choice(_ICCID_ISSUER[carrier]) + _digits(rng, 13)
    return payload + luhn_digit(payload)


def bank_card(rng: random.Random, *, credit: bool = False) -> str:
    """A UnionPay-style card number (19 digits debit, 16 credit) with a Luhn digit."""
    payload = ("62" + _digits(rng, 14)) if credit else ("62" + _digits(rng, 16))
    return payload + luhn_digit(payload)
