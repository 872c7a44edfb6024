"""SIM identifiers: the IMSI (subscriber identity) and the ICCID (the SIM card's serial).

A recycling platform rarely needs either (PIPL art. 6); carriers supply them under
formal process, and they link a subscriber record to a device and a SIM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cardtrace.errors import InvalidIdentifier

from ._checks import is_ascii_digits, luhn_is_valid, strip_separators
from ._phone import Carrier

__all__ = ["IccidParts", "ImsiParts", "parse_iccid", "parse_imsi"]

#: Mainland MNCs (domain brief §4.4): the first block from carrier sources, 08/10/12/15
#: from open-source mapping code; both secondary. Any other MNC is rejected.
_IMSI_NETWORKS: dict[str, Carrier] = {
    "00": "cmcc", "02": "cmcc", "04": "cmcc", "07": "cmcc", "08": "cmcc",
    "01": "cucc", "06": "cucc", "09": "cucc", "10": "cucc",
    "03": "ctcc", "05": "ctcc", "11": "ctcc", "12": "ctcc",
    "15": "cbn",
}  # fmt: skip
#: ICCID issuer codes (digits 5-6). Broadnet's is unknown, so unknown codes are accepted
#: with no carrier rather than rejected.
_ICCID_ISSUERS: dict[str, Carrier] = {
    "00": "cmcc", "02": "cmcc", "04": "cmcc", "07": "cmcc",
    "01": "cucc", "06": "cucc", "09": "cucc",
    "03": "ctcc", "11": "ctcc",
}  # fmt: skip
_MAX_INPUT = 48


@dataclass(frozen=True, slots=True)
class ImsiParts:
    """MCC 460 + 2-digit MNC + 10-digit MSIN; the identity stays out of ``repr``."""

    imsi: str = field(repr=False)
    mcc: str
    mnc: str
    msin: str = field(repr=False)
    carrier: Carrier


@dataclass(frozen=True, slots=True)
class IccidParts:
    """``89`` + ``86`` + issuer code + carrier fields + Luhn digit; serial out of ``repr``."""

    iccid: str = field(repr=False)
    issuer_code: str
    carrier: Carrier | None


def _digits(value: str, name: str) -> str:
    """The value without separators, if it is a string of digits (or none) of sane length."""
    if not isinstance(value, str):
        raise InvalidIdentifier(f"{name} must be a string")
    if len(value) > _MAX_INPUT:
        raise InvalidIdentifier(f"{name} is too long")
    cleaned = strip_separators(value)
    if cleaned and not is_ascii_digits(cleaned):  # no digits at all: told by the length
        raise InvalidIdentifier(f"{name} must contain only digits")
    return cleaned


def parse_imsi(value: str) -> ImsiParts:
    """Validate a mainland IMSI: 15 digits, MCC 460, a known MNC."""
    imsi = _digits(value, "IMSI")
    if len(imsi) != 15:
        raise InvalidIdentifier(f"IMSI has {len(imsi)} digits, expected 15")
    if imsi[:3] != "460":
        raise InvalidIdentifier(f"IMSI country code {imsi[:3]} is not mainland China (460)")
    carrier = _IMSI_NETWORKS.get(imsi[3:5])
    if carrier is None:
        raise InvalidIdentifier(f"unknown IMSI network code {imsi[3:5]}")
    return ImsiParts(imsi, imsi[:3], imsi[3:5], imsi[5:], carrier)


def parse_iccid(value: str) -> IccidParts:
    """Validate a mainland ICCID: 19 or 20 digits, ``8986`` prefix, Luhn check digit."""
    iccid = _digits(value, "ICCID")
    if len(iccid) not in {19, 20}:
        raise InvalidIdentifier(f"ICCID has {len(iccid)} digits, expected 19 or 20")
    if not iccid.startswith("8986"):
        raise InvalidIdentifier("ICCID does not start with 8986 (telecom, China)")
    if not luhn_is_valid(iccid):
        raise InvalidIdentifier("ICCID check digit does not match")
    return IccidParts(iccid, iccid[4:6], _ICCID_ISSUERS.get(iccid[4:6]))
