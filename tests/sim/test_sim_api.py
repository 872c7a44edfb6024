"""The public API of cardtrace.sim is what __all__ says."""

from __future__ import annotations

import cardtrace.sim


def test_all_names_exist_and_are_public() -> None:
    for name in cardtrace.sim.__all__:
        assert hasattr(cardtrace.sim, name)
    public = {n for n in vars(cardtrace.sim) if not n.startswith("_")}
    assert set(cardtrace.sim.__all__) <= public
    assert {"generate", "read_truth", "TruthRecord", "WorldSummary"} <= set(cardtrace.sim.__all__)
