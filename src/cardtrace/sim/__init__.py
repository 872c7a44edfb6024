"""A synthetic world of recycled top-up cards, with its ground truth.

:func:`generate` writes one JSON Lines file per node (the events that node can see) and
``truth.jsonl`` (what really happened to each card); :func:`read_truth` reads the latter.
The layout and the world's rules are described in docs/sim.md.
"""

from cardtrace.sim._generate import MAX_CARDS, TRUTH_FILE, WorldSummary, generate
from cardtrace.sim._truth import (
    BREAK_REASONS,
    Breakpoint,
    BreakReason,
    EventRef,
    Hop,
    Rejection,
    TrueUsers,
    TruthRecord,
    Typology,
    read_truth,
)
from cardtrace.sim._world import ANONYMISING_NETWORKS

__all__ = [
    "ANONYMISING_NETWORKS",
    "BREAK_REASONS",
    "MAX_CARDS",
    "TRUTH_FILE",
    "BreakReason",
    "Breakpoint",
    "EventRef",
    "Hop",
    "Rejection",
    "TrueUsers",
    "TruthRecord",
    "Typology",
    "WorldSummary",
    "generate",
    "read_truth",
]
