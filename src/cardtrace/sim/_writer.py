"""Writes events to one JSON Lines file per node, numbering each node's records.

Each node gives its records consecutive source ids (``SH05-000000017``), so a node that
later destroys records leaves gaps a ledger can prove. A destroyed record still takes its
number; it is counted, and not written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from cardtrace.sim._clock import iso

__all__ = ["Node", "NodeFiles"]

_LEGAL_BASIS = {
    "subscriber.registered": "statutory_duty",
    "record.erased": "statutory_duty",
}
_BATCH = 512  # lines per node buffered before one write


@dataclass(slots=True)
class Node:
    """A party that keeps records and exports them as one node file."""

    node_id: str
    channel: str
    prefix: str
    #: Records made before this world time are destroyed (data_destroyed), if set.
    destroys_before: int | None = None
    #: Personal data of PIN-verification logs is erased after this many seconds, if set.
    log_retention: int | None = None
    next_number: int = 0


@dataclass(slots=True)
class NodeFiles:
    """Open node files, and counts of the events written (and destroyed) per node and type."""

    out: Path
    nodes: list[Node]
    written: Counter[tuple[str, str]] = field(default_factory=Counter)
    destroyed: Counter[tuple[str, str]] = field(default_factory=Counter)
    _files: dict[str, BinaryIO] = field(default_factory=dict)
    _pending: dict[str, list[bytes]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """The node files' names, in node order."""
        return [f"{node.node_id}.jsonl" for node in self.nodes]

    def open(self) -> None:
        """Open (replace) every node file in ``out``, a folder that exists."""
        for node, name in zip(self.nodes, self.names, strict=True):
            self._files[node.node_id] = (self.out / name).open("wb", buffering=1 << 20)
            self._pending[node.node_id] = []

    def close(self) -> None:
        for node_id in self._files:
            self._flush(node_id)
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def emit(
        self, node: Node, kind: str, occurred: int, recorded: int, fields: dict[str, Any]
    ) -> tuple[str, bool]:
        """Write one event; return its source id and whether it was kept (not destroyed)."""
        node.next_number += 1
        source_id = f"{node.prefix}-{node.next_number:09d}"
        key = (node.node_id, kind)
        if node.destroys_before is not None and recorded < node.destroys_before:
            self.destroyed[key] += 1
            return source_id, False
        event = {
            "type": kind,
            "node_id": node.node_id,
            "source_id": source_id,
            "channel": node.channel,
            "occurred_at": iso(occurred),
            "recorded_at": iso(recorded),
            "legal_basis": _LEGAL_BASIS.get(kind, "contract"),
            **fields,
        }
        pending = self._pending[node.node_id]
        pending.append(orjson.dumps(event))
        if len(pending) >= _BATCH:
            self._flush(node.node_id)
        self.written[key] += 1
        return source_id, True

    def _flush(self, node_id: str) -> None:
        pending = self._pending[node_id]
        if pending:
            pending.append(b"")
            self._files[node_id].write(b"\n".join(pending))
            pending.clear()
