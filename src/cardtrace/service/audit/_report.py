"""What an audit reports: each problem with where it is, the first ones of each kind
kept and all of them counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["MAX_PER_KIND", "AuditReport", "Problem", "Problems"]

#: Problems kept per kind; beyond it they are only counted (a shifted table would
#: otherwise yield one problem per row and hold them all in memory).
MAX_PER_KIND = 50


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that does not hold, and where."""

    kind: str
    message: str
    seq: int | None = None
    event_id: str | None = None
    checkpoint_id: int | None = None


@dataclass(frozen=True)
class AuditReport:
    """What the audit read and every problem it found (the first ones of each kind)."""

    events: int
    log_size: int
    checkpoints: int
    problems: tuple[Problem, ...]
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.counts


class Problems:
    """The problems found so far: the first :data:`MAX_PER_KIND` of each kind kept, all
    counted."""

    def __init__(self) -> None:
        self.kept: list[Problem] = []
        self.counts: Counter[str] = Counter()

    def add(
        self,
        kind: str,
        message: str,
        *,
        seq: int | None = None,
        event_id: str | None = None,
        checkpoint_id: int | None = None,
    ) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= MAX_PER_KIND:
            self.kept.append(Problem(kind, message, seq, event_id, checkpoint_id))

    def room(self, kind: str) -> int:
        """How many more problems of ``kind`` would be kept."""
        return max(0, MAX_PER_KIND - self.counts[kind])

    def tally(self, kind: str, count: int) -> None:
        """Count ``count`` more problems of ``kind`` that are not kept (beyond the first)."""
        if count:
            self.counts[kind] += count
