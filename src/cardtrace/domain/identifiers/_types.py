"""Pydantic string types that validate an identifier and store its normal form.

A model field typed ``Msisdn`` holds ``+8613800138000`` whatever spelling came in, so
equal identifiers compare, hash and link equal downstream. The length bounds are checked
before parsing, which keeps absurd input away from the parsers and their caches.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from ._network import normal_ip
from ._payment import parse_payment_account
from ._phone import parse_msisdn
from ._resident import parse_resident_id
from ._telecom import parse_iccid, parse_imsi

__all__ = ["Iccid", "Imsi", "IpAddress", "Msisdn", "PaymentAccount", "ResidentIdNumber"]


def _resident_id_number(value: str) -> str:
    return parse_resident_id(value).number


def _msisdn(value: str) -> str:
    return parse_msisdn(value).e164


def _imsi(value: str) -> str:
    return parse_imsi(value).imsi


def _iccid(value: str) -> str:
    return parse_iccid(value).iccid


def _payment_account(value: str) -> str:
    return parse_payment_account(value).normalized


ResidentIdNumber = Annotated[
    str,
    Field(
        min_length=15,
        max_length=32,
        description="Resident ID number (GB 11643-1999, or legacy 15 digits); "
        "stored with upper-case X",
        examples=["11010519491231002X"],
    ),
    AfterValidator(_resident_id_number),
]
Msisdn = Annotated[
    str,
    Field(
        min_length=11,
        max_length=32,
        description="Mainland China mobile or 13-digit IoT number; stored as E.164",
        examples=["+8613800138000"],
    ),
    AfterValidator(_msisdn),
]
Imsi = Annotated[
    str,
    Field(
        min_length=15,
        max_length=48,
        description="IMSI with MCC 460 and a known mainland MNC; stored as 15 digits",
        examples=["460001234567890"],
    ),
    AfterValidator(_imsi),
]
Iccid = Annotated[
    str,
    Field(
        min_length=19,
        max_length=48,
        description="SIM ICCID starting 8986, 19 or 20 digits with a Luhn check digit",
        examples=["89860070310112094320"],
    ),
    AfterValidator(_iccid),
]
IpAddress = Annotated[
    str,
    Field(
        min_length=2,
        max_length=64,
        description="IPv4 or IPv6 address; stored in compressed form, IPv4-mapped as IPv4",
        examples=["192.0.2.1", "2001:db8::1"],
    ),
    AfterValidator(normal_ip),
]
PaymentAccount = Annotated[
    str,
    Field(
        min_length=8,
        max_length=300,
        description="scheme:identifier with scheme alipay, wechat or bank; "
        "stored normalised (bank digits only, alipay phone as E.164)",
        examples=["alipay:2088000000000001", "wechat:wxid_abcdef123456", "bank:4111111111111111"],
    ),
    AfterValidator(_payment_account),
]
