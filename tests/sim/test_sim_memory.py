"""Streaming: memory does not grow with the number of cards."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from cardtrace.sim import generate


def _peak(cards: int, out: Path) -> int:
    tracemalloc.start()
    try:
        generate(5, cards, out)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_is_flat_in_the_number_of_cards(tmp_path: Path) -> None:
    small = _peak(3_000, tmp_path / "small")
    large = _peak(12_000, tmp_path / "large")
    assert large < 2 * small
