"""``cardtrace reindex``: rebuild, from the event rows, what the audit found wrong in the
tables derived from them (the id index, the counts of events, the link index, the
erasures table), and apply the erasures of the log that an event row does not show.

The audit runs first. A rebuild repeats what the event rows say, so it is refused when
the audit finds the rows themselves, or the log they must agree with, wrong: an edited
event would otherwise have its edit copied into the index. The one change to event
rows is the erasure the log orders: sealed data its node's ``record.erased`` deleted,
found stored again (restored, or never deleted because the id index led the erasure
elsewhere), is deleted. Only what the audit found wrong is mended, in one transaction
that holds the writer lock (an ingest started meanwhile waits, and its events are then
indexed as it stores them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import orjson

from cardtrace.crypto.tokens import Tokenizer
from cardtrace.errors import ConfigurationError, TamperDetected
from cardtrace.ingest.protect import PartyTokens, erased_target, leaf_links
from cardtrace.service.audit import AuditProgress, verify_node
from cardtrace.service.node import Node

__all__ = ["REBUILT", "Mend", "Reindexed", "reindex_node"]


class Mend(NamedTuple):
    """What reindex does for a kind of problem, and what it counts doing it."""

    what: str
    unit: str


#: The audit's problem kinds reindex mends, and what it does for each.
REBUILT: Mapping[str, Mend] = {
    "id-index": Mend("rebuilt the id index", "row"),
    "count-changed": Mend("rebuilt the counts of events by node and type", "row"),
    "link-index": Mend("rebuilt the link index", "row"),
    "erasure-index": Mend("rebuilt the erasures table", "row"),
    "erasure-not-applied": Mend(
        "deleted the sealed data of events the log's erasures had erased", "event"
    ),
}


@dataclass(frozen=True)
class Reindexed:
    """The problems the audit found, by kind, and the rows of each table rebuilt."""

    found: Mapping[str, int]
    rebuilt: Mapping[str, int]


def reindex_node(node: Node, progress: AuditProgress | None = None) -> Reindexed:
    """Audit the node, then rebuild the derived tables it found wrong and apply the
    erasures it found not applied (none: nothing); ``progress`` hears of the audit's
    steps, then of the rebuild."""
    report = verify_node(node, progress)
    beyond = {kind: count for kind, count in report.counts.items() if kind not in REBUILT}
    if beyond:
        named = ", ".join(f"{kind} {count:,}" for kind, count in sorted(beyond.items()))
        raise TamperDetected(
            f"the audit found the event rows or the log wrong ({named}), not only what is "
            "derived from them: an index rebuilt from these rows would repeat that; nothing "
            "was changed ('cardtrace verify' lists the problems)"
        )
    database = node.database
    party_tokens = PartyTokens(Tokenizer(node.reading_keys(database).link_key))
    rebuilt: dict[str, int] = {}
    if progress is not None and report.counts:
        progress("rebuilding", 0, None)
    with database.rebuilding() as rebuild:
        if "id-index" in report.counts:
            rebuilt["id-index"] = rebuild.ids()
        if "count-changed" in report.counts:
            rebuilt["count-changed"] = rebuild.counts()
        if "link-index" in report.counts:
            rebuilt["link-index"] = rebuild.links(partial(_links_of, party_tokens))
        if "erasure-index" in report.counts:  # after the id index, through which it looks
            rebuilt["erasure-index"] = rebuild.erasures(_erasure_target)
        if "erasure-not-applied" in report.counts:  # after the erasures table
            rebuilt["erasure-not-applied"] = rebuild.apply_erasures()
    return Reindexed(dict(report.counts), rebuilt)


def _erasure_target(data: bytes) -> bytes | None:
    """The event id a stored erasure's leaf names."""
    return erased_target(_stored_leaf(data))


def _links_of(party_tokens: PartyTokens, data: bytes) -> list[tuple[bytes, str]]:
    """The link rows a stored leaf makes, as the audit expects them."""
    leaf = _stored_leaf(data)
    try:
        return leaf_links(leaf, party_tokens)
    except (AttributeError, TypeError, ValueError) as exc:
        raise _unindexable(exc) from None


def _stored_leaf(data: bytes) -> dict[str, Any]:
    """A stored leaf's fields (the audit found every leaf the log's)."""
    try:
        leaf = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _unindexable(exc) from None
    if not isinstance(leaf, dict):
        raise _unindexable(TypeError("not a JSON object"))
    return leaf


def _unindexable(cause: Exception) -> ConfigurationError:
    # The audit leaves such a leaf out of its checks; rebuilding without it would drop
    # whatever rows it has.
    return ConfigurationError(
        f"a stored event's leaf is not one this cardtrace can index ({cause}): a newer "
        "cardtrace may have stored it; nothing was changed"
    )
