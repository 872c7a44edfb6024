"""IP addresses as recorded by a recycler or a carrier's top-up front end."""

from __future__ import annotations

import ipaddress

from cardtrace.errors import InvalidIdentifier

__all__ = ["IpAddressValue", "parse_ip"]

IpAddressValue = ipaddress.IPv4Address | ipaddress.IPv6Address
_MAX_INPUT = 64


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
