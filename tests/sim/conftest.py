"""A small world shared by the sim tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from cardtrace.sim import TRUTH_FILE, WorldSummary, generate

WORLD_CARDS = 2000
WORLD_SEED = 7


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorldSummary]:
    out = tmp_path_factory.mktemp("world")
    return out, generate(WORLD_SEED, WORLD_CARDS, out)


@pytest.fixture(scope="session")
def world_events(world: tuple[Path, WorldSummary]) -> list[dict[str, Any]]:
    """Every event of the shared world's node files, file by file."""
    out, _ = world
    found: list[dict[str, Any]] = []
    for path in sorted(out.glob("*.jsonl")):
        if path.name != TRUTH_FILE:
            found.extend(orjson.loads(line) for line in path.read_bytes().splitlines())
    return found
