"""Generate a world: node files and truth, streamed card by card with bounded memory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
from pydantic import BaseModel, ConfigDict, Field

from cardtrace.errors import InvalidInput
from cardtrace.sim._flows import Flows
from cardtrace.sim._steps import Steps
from cardtrace.sim._world import World, build_world
from cardtrace.sim._writer import NodeFiles

__all__ = ["MAX_CARDS", "TRUTH_FILE", "WorldSummary", "generate"]

TRUTH_FILE = "truth.jsonl"
_PROGRESS_EVERY = 1000
#: The largest world generated in one run.
MAX_CARDS = 10_000_000


class WorldSummary(BaseModel):
    """What :func:`generate` wrote."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int
    cards: int
    events: int = Field(description="Events written to the node files.")
    events_by_node: dict[str, dict[str, int]]
    destroyed_by_node: dict[str, dict[str, int]] = Field(
        description="Events a node made and then destroyed (not in its file)."
    )
    cards_by_typology: dict[str, int] = Field(description="'honest' for typology None.")
    breakpoints: dict[str, int] = Field(description="Expected breakpoints by reason code.")
    rejected: int = Field(description="Events written deliberately invalid (listed in the truth).")
    files: list[str] = Field(description="Files written, relative to the output directory.")

    @property
    def node_files(self) -> list[str]:
        """The files of the nodes' events: all but the ground truth."""
        return [name for name in self.files if name != TRUTH_FILE]


def generate(
    seed: int, cards: int, out: Path, progress: Callable[[int], None] | None = None
) -> WorldSummary:
    """Write a synthetic world of ``cards`` cards for ``seed`` under ``out``.

    The same seed and card count give byte-identical files. ``progress`` is called with the
    number of cards done, every thousand cards and at the end.
    """
    if not 1 <= cards <= MAX_CARDS:
        raise InvalidInput(f"cards must be between 1 and {MAX_CARDS}, got {cards}")
    if seed < 0:  # random.Random seeds with abs(seed): -3 would be the world of 3
        raise InvalidInput(f"seed must be 0 or more, got {seed}")
    world = build_world(seed, cards)
    files = NodeFiles(out, list(world.nodes.values()))
    _check_out(out, {*files.names, TRUTH_FILE})
    try:
        return _write(seed, cards, world, files, progress)
    except OSError as exc:  # a full disk, say: what was written is not a whole world
        raise InvalidInput(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from None


def _check_out(out: Path, names: set[str]) -> None:
    """Make ``out`` if it is missing; refuse it if it holds anything but a world's files.

    ``cardtrace ingest`` reads a folder whole, so a world written among other files would
    be read with them. An earlier world's files are replaced (their names are the same).
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        others = sorted(entry.name for entry in out.iterdir() if entry.name not in names)
    except FileExistsError:
        raise InvalidInput(f"{out} is a file; a world is written to a folder") from None
    except OSError as exc:
        raise InvalidInput(f"cannot write the world to {out}: {exc.strerror or exc}") from None
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise InvalidInput(
            f"{out} holds files that are not a synthetic world's ({shown}); write the world "
            "to a new or empty folder"
        )


def _write(
    seed: int,
    cards: int,
    world: World,
    files: NodeFiles,
    progress: Callable[[int], None] | None,
) -> WorldSummary:
    steps = Steps(world, files)
    flows = Flows(steps)
    typologies: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    rejected = 0
    made = 0
    try:
        files.open()
        with (files.out / TRUTH_FILE).open("wb", buffering=1 << 20) as truth:
            while made < cards:
                for record in flows.next_scenario(cards - made):
                    made += 1
                    record["card_id"] = f"C{made:08d}"
                    truth.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
                    typologies[record["typology"] or "honest"] += 1
                    reasons.update(mark["reason"] for mark in record["breakpoints"])
                    rejected += len(record["rejected"])
                    if progress is not None and made % _PROGRESS_EVERY == 0:
                        progress(made)
            steps.usage()
    finally:
        files.close()
    if progress is not None and made % _PROGRESS_EVERY:
        progress(made)
    return WorldSummary(
        seed=seed,
        cards=made,
        events=sum(files.written.values()),
        events_by_node=_nested(files.written),
        destroyed_by_node=_nested(files.destroyed),
        cards_by_typology=dict(sorted(typologies.items())),
        breakpoints=dict(sorted(reasons.items())),
        rejected=rejected,
        files=[*files.names, TRUTH_FILE],
    )


def _nested(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for (node_id, kind), n in sorted(counts.items()):
        nested.setdefault(node_id, {})[kind] = n
    return nested
