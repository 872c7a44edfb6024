"""How each event field is held: in clear, as a link token, encrypted, or never kept.

Fields carry this as ``Annotated`` metadata, so the rule sits next to the field it
governs and the ingest pipeline reads it from the model instead of keeping a second list.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic.fields import FieldInfo

__all__ = ["Personal", "Secret", "handling_of"]


@dataclass(frozen=True, slots=True)
class Personal:
    """Personal data: encrypted at rest, committed to in the ledger, never logged.

    ``token`` names the link-token kind when the value must also link records
    (every field of one kind shares it, so a phone number links across event types).
    """

    token: str | None = None


@dataclass(frozen=True, slots=True)
class Secret:
    """A bearer secret (a card PIN): replaced by a keyed digest at the reader boundary.

    Neither the value nor an encryption of it is ever stored.
    """

    token: str = "pin"


def handling_of(field: FieldInfo) -> Personal | Secret | None:
    """The handling marker of a model field, or None for a clear field."""
    for marker in field.metadata:
        if isinstance(marker, Personal | Secret):
            return marker
    return None
