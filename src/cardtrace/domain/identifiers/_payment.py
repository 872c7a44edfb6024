"""Payment accounts written as ``scheme:identifier`` (payout and purchase accounts).

One string form per account lets records from shops, platforms and banks link on the
same value: ``alipay:2088…``, ``alipay:+86…``, ``alipay:name@example.com``,
``wechat:wxid_…`` and ``bank:<digits>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from cardtrace.errors import InvalidIdentifier

from ._checks import is_ascii_digits, luhn_is_valid, strip_separators
from ._phone import parse_msisdn

__all__ = ["AccountKind", "PaymentAccountParts", "PaymentScheme", "parse_payment_account"]

PaymentScheme = Literal["alipay", "wechat", "bank"]
AccountKind = Literal["user_id", "email", "mobile", "wxid", "token", "card"]

_ALIPAY_USER_ID = re.compile(r"2088\d{12}", re.ASCII)
# Deliberately loose: the point is to recognise an e-mail login, not to police RFC 5322.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+", re.ASCII)
_WECHAT_TOKEN = re.compile(r"[A-Za-z0-9_-]{6,64}", re.ASCII)
_MAX_INPUT = 300


@dataclass(frozen=True, slots=True)
class PaymentAccountParts:
    """A parsed account; the identifier stays out of ``repr`` (and so logs)."""

    scheme: PaymentScheme
    identifier: str = field(repr=False)
    kind: AccountKind

    @property
    def normalized(self) -> str:
        """The canonical ``scheme:identifier`` string."""
        return f"{self.scheme}:{self.identifier}"


def parse_payment_account(value: str) -> PaymentAccountParts:
    """Validate ``scheme:identifier`` and normalise scheme case and identifier form."""
    if not isinstance(value, str):
        raise InvalidIdentifier("payment account must be a string")
    if len(value) > _MAX_INPUT:
        raise InvalidIdentifier("payment account is too long")
    scheme, colon, identifier = value.partition(":")
    if not colon:
        raise InvalidIdentifier("payment account must have the form scheme:identifier")
    scheme = scheme.strip().lower()
    identifier = identifier.strip()
    if scheme == "alipay":
        return _alipay(identifier)
    if scheme == "wechat":
        return _wechat(identifier)
    if scheme == "bank":
        return _bank(identifier)
    raise InvalidIdentifier("unknown payment scheme, expected alipay, wechat or bank")


def _alipay(identifier: str) -> PaymentAccountParts:
    """An Alipay user id (2088 + 12 digits), a login e-mail, or a login mobile number."""
    if _ALIPAY_USER_ID.fullmatch(identifier):
        return PaymentAccountParts("alipay", identifier, "user_id")
    if "@" in identifier:
        if not _EMAIL.fullmatch(identifier):
            raise InvalidIdentifier("alipay e-mail account is not a valid e-mail address")
        # Logins are matched case-insensitively, so one case links the same person.
        return PaymentAccountParts("alipay", identifier.lower(), "email")
    try:
        phone = parse_msisdn(identifier)
    except InvalidIdentifier as error:
        raise InvalidIdentifier(
            f"alipay account is not a 2088 user id, an e-mail or a mobile number ({error})"
        ) from None
    if len(phone.national) != 11:
        raise InvalidIdentifier("alipay mobile account must be an 11-digit number")
    return PaymentAccountParts("alipay", phone.e164, "mobile")


def _wechat(identifier: str) -> PaymentAccountParts:
    """A ``wxid_`` id or an openid-like token, kept as given: both are case-sensitive."""
    if not _WECHAT_TOKEN.fullmatch(identifier):
        raise InvalidIdentifier(
            "wechat account must be 6 to 64 letters, digits, '_' or '-' (wxid_ id or openid)"
        )
    kind: AccountKind = "wxid" if identifier.startswith("wxid_") else "token"
    return PaymentAccountParts("wechat", identifier, kind)


def _bank(identifier: str) -> PaymentAccountParts:
    """A bank card number: 13-19 digits passing Luhn, separators dropped."""
    digits = strip_separators(identifier)
    if digits and not is_ascii_digits(digits):  # no digits at all: told by the length
        raise InvalidIdentifier("bank card number must contain only digits, spaces and hyphens")
    if not 13 <= len(digits) <= 19:
        raise InvalidIdentifier(f"bank card number has {len(digits)} digits, expected 13 to 19")
    if not luhn_is_valid(digits):
        raise InvalidIdentifier("bank card number check digit does not match")
    return PaymentAccountParts("bank", digits, "card")
