"""``cardtrace demo``: the main job end to end on the embedded default, told step by step."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from cardtrace import service
from cardtrace.cli import render
from cardtrace.cli.ledger_commands import show_bundle_report
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
        walk = node.card_history(card.issuer, serial=card.serial)
        render.card_history(out, walk)
        render.truth(out, card)

        out.rule("4. Sign a checkpoint, prove one of the card's events, verify it offline")
        _prove_and_verify(out, node, folder, walk.events)
    out.print(
        f"Database: {render.plain(folder / 'cardtrace.db')}   world: {render.plain(world)}   "
        f"keys: {render.plain(folder / 'keys')}"
    )


def _prove_and_verify(
    out: Console, node: service.Node, folder: Path, events: Sequence[service.CardEvent]
) -> None:
    """Checkpoint the log, write one event's evidence bundle, check it with the key alone."""
    if not events:
        out.print("The card has no stored event to prove.")
        return
    info, _ = service.make_checkpoint(node)
    out.print(f"Checkpoint #{info.id}, signed by this node and stored:")
    out.print(escape(info.note), end="", soft_wrap=True)
    chosen = next((e for e in events if e.type == "card.recycled"), events[0])
    bundle = service.prove(node, chosen.leaf["event_id"])
    out.print(
        f"Inclusion proof of the {chosen.type} event {chosen.leaf['event_id']}: "
        f"leaf index {bundle.leaf_index}, tree size {bundle.tree_size:,}, "
        f"{len(bundle.inclusion_proof)} hashes from the leaf up:"
    )
    for number, digest in enumerate(bundle.inclusion_proof):
        out.print(f"  {number:2d}  {digest.hex()[:16]}…")
    path = folder / "evidence.json"
    data = service.dump_bundle(bundle)
    path.write_bytes(data)
    key = service.verifier_key(node)
    out.print(f"Bundle written to {render.plain(path)}; verifying it with the node's key alone:")
    verified, report = service.verify_bundle_file(data, [key])
    show_bundle_report(out, verified, report)
    command = shlex.join(["cardtrace", "verify-bundle", str(path), "--key", key])
    out.print(f"Try it: {render.plain(command)}", soft_wrap=True)


def _fresh_folder(folder: Path) -> None:
    if folder.exists() and not (folder / _MARKER).exists():
        raise InvalidInput(f"{folder} exists and was not made by the demo; choose another --folder")
    try:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / _MARKER).touch()
    except OSError as exc:
        raise InvalidInput(f"cannot make the demo folder {folder}: {exc.strerror}") from None
