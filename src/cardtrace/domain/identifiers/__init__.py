"""Identifiers cardtrace validates at the boundary: ID numbers, phone numbers, SIMs, IPs.

Each ``parse_*`` function returns a frozen record of the identifier's parts or raises
:class:`cardtrace.errors.InvalidIdentifier`, whose message names the fault without
repeating the identifier. The ``Annotated`` string types (``Msisdn``...) run the same
parsers inside pydantic models and keep the normal form. The check-digit functions let
generators and tests build valid values.
"""

from __future__ import annotations

from ._checks import luhn_check_digit, resident_id_check_digit
from ._network import IpAddressValue, parse_ip
from ._payment import AccountKind, PaymentAccountParts, PaymentScheme, parse_payment_account
from ._phone import Carrier, NumberKind, PhoneNumber, msisdn_kind, parse_msisdn
from ._phone import clear_cache as _clear_msisdn_cache
from ._resident import ResidentId, Sex, parse_resident_id, resident_id_warnings
from ._resident import clear_cache as _clear_resident_id_cache
from ._telecom import IccidParts, ImsiParts, parse_iccid, parse_imsi
from ._types import Iccid, Imsi, IpAddress, Msisdn, PaymentAccount, ResidentIdNumber

__all__ = [
    "AccountKind",
    "Carrier",
    "Iccid",
    "IccidParts",
    "Imsi",
    "ImsiParts",
    "IpAddress",
    "IpAddressValue",
    "Msisdn",
    "NumberKind",
    "PaymentAccount",
    "PaymentAccountParts",
    "PaymentScheme",
    "PhoneNumber",
    "ResidentId",
    "ResidentIdNumber",
    "Sex",
    "clear_identifier_caches",
    "luhn_check_digit",
    "msisdn_kind",
    "parse_iccid",
    "parse_imsi",
    "parse_ip",
    "parse_msisdn",
    "parse_payment_account",
    "parse_resident_id",
    "resident_id_check_digit",
    "resident_id_warnings",
]


def clear_identifier_caches() -> None:
    """Drop the cached parses, which hold raw ID and phone numbers in memory.

    Call it after erasing a data subject, or between benchmark runs to measure cold cost.
    """
    _clear_msisdn_cache()
    _clear_resident_id_cache()
