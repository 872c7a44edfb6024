"""How each event field is held: in clear, as a link token, encrypted, or never kept.

Fields carry this as ``Annotated`` metadata, so the rule sits next to the field it
governs and the ingest pipeline reads it from the model instead of keeping a second list.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic.fields import FieldInfo

__all__ = ["Party", "Personal", "Secret", "handling_of"]


@dataclass(frozen=True, slots=True)
class Personal:
    """Personal data: encrypted at rest, committed to in the ledger, never logged.

    ``link`` names the link-token kind when the value must also link records
    (every field of one kind shares it, so a phone number links across event types).
    ``node_scoped`` is documented on the attribute.
    """

    link: str | None = None
    #: True when the value only means something at the node that recorded it (a
    #: platform's own user name): the token is then taken over ``node_id:value``.
    node_scoped: bool = False


@dataclass(frozen=True, slots=True)
class Secret:
    """A bearer secret (a card PIN): replaced by a keyed digest at the reader boundary.

    Neither the value nor an encryption of it is ever stored.
    """

    link: str = "pin"


@dataclass(frozen=True, slots=True)
class Party:
    """The id of a business party (shop, platform, distributor): clear, and a lookup key."""


def handling_of(field: FieldInfo) -> Personal | Secret | Party | None:
    """The handling marker of a model field, or None for a plain clear field."""
    for marker in field.metadata:
        if isinstance(marker, Personal | Secret | Party):
            return marker
    return None
