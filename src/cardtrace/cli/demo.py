"""``cardtrace demo``: the main job end to end on the embedded default, told step by step."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from cardtrace import service
from cardtrace.cli import render
from cardtrace.errors import InvalidInput
from cardtrace.settings import load_settings

__all__ = ["run_demo"]

#: A folder holding this file was made by the demo and may be wiped by it.
_MARKER = ".cardtrace-demo"


def run_demo(out: Console, err: Console, *, folder: Path, cards: int, seed: int) -> None:
    """Generate a world, ingest it into a fresh SQLite file, walk one fraud card."""
    _fresh_folder(folder)
    world = folder / "world"
    out.rule(f"1. A synthetic world of {cards:,} cards (seed {seed})")
    with render.counting_progress(err, "cards", cards) as advance:
        render.world(out, service.simulate(seed, cards, world, progress=advance), world)

    out.rule("2. Ingest every node's file into a fresh SQLite database")
    settings = load_settings(
        database_url=f"sqlite:///{folder / 'cardtrace.db'}",
        key_dir=folder / "keys",
        environment="development",
    )
    rejects = folder / "rejects.jsonl"
    with service.Node(settings) as node:
        with render.file_progress(err) as progress:
            summary = node.ingest(
                [world], rejects=rejects, progress=progress.advance, on_files=progress.start
            )
        render.ingest_summary(out, summary, rejects)
        render.stats(out, node.stats())

        card = service.fraud_card(world)
        out.rule("3. A card the ground truth says was bought with stolen money")
        out.print(
            f"issuer {card.issuer}, serial {card.serial}, face value {card.face_value} yuan, "
            f"typology {card.typology}"
        )
        render.card_history(out, node.card_history(card.issuer, serial=card.serial))
        render.truth(out, card)
    out.print(f"Database: {folder / 'cardtrace.db'}   world: {world}   keys: {folder / 'keys'}")


def _fresh_folder(folder: Path) -> None:
    if folder.exists():
        if not (folder / _MARKER).exists():
            raise InvalidInput(
                f"{folder} exists and was not made by the demo; choose another --folder"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / _MARKER).touch()
