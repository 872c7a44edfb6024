"""IP addresses as recorded by a recycler or a carrier's top-up front end."""

from __future__ import annotations

import ipaddress
import re

from cardtrace.errors import InvalidIdentifier

__all__ = ["IpAddressValue", "normal_ip", "parse_ip"]

IpAddressValue = ipaddress.IPv4Address | ipaddress.IPv6Address
_MAX_INPUT = 64
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: An IPv4 address already in normal form: four decimal octets, no leading zeros.
_NORMAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def normal_ip(value: str) -> str:
    """``parse_ip(value).compressed``, ten times faster for an IPv4 address in normal form.

    Most recorded addresses are; the ``ipaddress`` module costs ~5 µs for one, which
    the ingest hot path pays once per event that carries an address.
    """
    if _NORMAL_IPV4.fullmatch(value):
        return value
    return parse_ip(value).compressed


def parse_ip(value: str) -> IpAddressValue:
    """Validate an IPv4 or IPv6 address; ``.compressed`` is its normal form.

    An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) becomes the IPv4 address, so a
    client seen by a dual-stack server links with the same client seen over IPv4. A zone
    index (``fe80::1%eth0``) names an interface of the recording host, not the client,
    so it is refused.
    """
    if not isinstance(value, str):
        raise InvalidIdentifier("IP address must be a string")
    if len(value) > _MAX_INPUT:
        raise InvalidIdentifier("IP address is too long")
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise InvalidIdentifier("not a valid IPv4 or IPv6 address") from None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            raise InvalidIdentifier("IPv6 address carries a zone index (%...)")
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
    return address
