"""The ledger's commands: keys, checkpoints, evidence bundles, audit, witnessing.

Each parses its arguments, calls one service function and renders the answer; errors
go up to :mod:`cardtrace.cli.main`, the one place that maps them to exit codes. A check
that fails is reported in full first, then raised as ``TamperDetected`` (exit 4).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cardtrace import service
from cardtrace.cli import render
from cardtrace.cli.options import DbOption, JsonOption, path
from cardtrace.cli.render import plain
from cardtrace.errors import InvalidInput, TamperDetected
from cardtrace.files import read_small
from cardtrace.settings import load_settings

__all__ = ["register"]

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

keys_app = typer.Typer(
    name="keys",
    help="The node's secret keys: files in CARDTRACE_KEY_DIR, never in the database.",
    no_args_is_help=True,
)
cosignature_app = typer.Typer(
    name="cosignature",
    help="Witnesses' cosignatures of this node's checkpoints.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ledger's commands to ``app``."""
    app.add_typer(keys_app)
    app.add_typer(cosignature_app)
    app.command("checkpoint")(checkpoint)
    app.command("prove")(prove)
    app.command("verify-bundle")(verify_bundle)
    app.command("verify")(verify)
    app.command("reindex")(reindex)
    app.command("consistency")(consistency)
    app.command("witness")(witness)


def _node(db: str | None = None) -> service.Node:
    return service.Node(load_settings(database_url=db))


#: The most a bundle, witness request or cosignature file may hold (each is a few KB).
_MAX_FILE_BYTES = 1 << 20


def _read(path: Path, what: str) -> bytes:
    try:
        return read_small(path, _MAX_FILE_BYTES)
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} {path}: {exc.strerror}") from None


def _json(value: object) -> None:
    print(orjson.dumps(value).decode())


# --- keys --------------------------------------------------------------------------------


@keys_app.command("init")
def keys_init() -> None:
    """Create the node's missing keys and print its public verifier keys."""
    with _node() as node:
        created = service.init_keys(node)
        note_key = service.verifier_key(node)
        witness_key = service.verifier_key(node, witness=True)
    folder = node.settings.key_dir
    _err.print(
        f"created {', '.join(created)} in {folder}" if created else f"keys exist in {folder}"
    )
    print(f"checkpoint key: {note_key}")
    print(f"witness key:    {witness_key}")


@keys_app.command("verifier")
def keys_verifier(
    witness: Annotated[
        bool, typer.Option("--witness", help="The cosignature key of this node as a witness.")
    ] = False,
) -> None:
    """Print the public verifier key of the checkpoint key (name+keyid+base64); makes no key."""
    with _node() as node:
        print(service.existing_verifier_key(node, witness=witness))


# --- checkpoints -------------------------------------------------------------------------


def checkpoint(
    db: DbOption = None,
    export: Annotated[
        Path | None,
        typer.Option(
            parser=path,
            metavar="FILE",
            help="Also write the signed note to this file (replaces only an earlier one).",
        ),
    ] = None,
    list_all: Annotated[
        bool, typer.Option("--list", help="List the stored checkpoints and their witnesses.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Sign and store a checkpoint of the log; print the signed note exactly as stored."""
    if export is not None:  # before signing: a path refused or unwritable stores nothing
        service.check_output(export, service.CHECKPOINT_FILE)
    with _node(db) as node:
        if list_all:
            _checkpoint_list(service.list_checkpoints(node), node.settings.witness_quorum, json)
            return
        info, fresh = service.make_checkpoint(node)
    if export is not None:
        try:
            service.write_whole(export, info.note.encode(), service.CHECKPOINT_FILE)
        except InvalidInput as exc:
            raise InvalidInput(
                f"{exc}; checkpoint #{info.id} is stored all the same, and the same command "
                "run again writes it"
            ) from None
    if json:
        _json(_checkpoint_json(info))
    else:
        sys.stdout.write(info.note)
    state = "new" if fresh else "unchanged: the log has not grown since"
    _err.print(f"checkpoint #{info.id} of {info.size:,} leaves ({state})")


def _checkpoint_json(info: service.CheckpointInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "size": info.size,
        "root": info.root.hex(),
        "created_at": info.created_at,
        "note": info.note,
        "cosignatures": list(info.cosignatures),
        "cosigned_by": list(info.cosigned_by),
        "witnessed": info.witnessed,
    }


def _checkpoint_list(infos: Sequence[service.CheckpointInfo], quorum: int, json: bool) -> None:
    if json:
        _json([_checkpoint_json(info) for info in infos])
        return
    if not infos:
        _out.print("No checkpoint yet: run 'cardtrace checkpoint'.")
        return
    table = Table(title=f"Checkpoints (witnessed = cosigned by {quorum}+ trusted witnesses)")
    for column in ("#", "size", "root", "created (UTC)", "cosigned by", "witnessed"):
        table.add_column(
            column,
            justify="right" if column in ("#", "size") else "left",
            no_wrap=column != "cosigned by",
        )
    for info in infos:
        table.add_row(
            str(info.id),
            f"{info.size:,}",
            info.root.hex()[:12] + "…",
            info.created_at[:19].replace("T", " "),
            ", ".join(info.cosigned_by) or "-",
            "yes" if info.witnessed else "no",
        )
    _out.print(table)


# --- evidence bundles --------------------------------------------------------------------


def prove(
    event: Annotated[str, typer.Option("--event", metavar="UUID", help="The event id (a UUID).")],
    out: Annotated[
        Path | None,
        typer.Option(
            parser=path,
            metavar="FILE",
            help="Bundle file (replaces only an earlier one); default: evidence-<event id>.json.",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Write the evidence bundle of one event: its bytes, inclusion proof, signed checkpoint."""
    with _node(db) as node:
        bundle = service.prove(node, event)
    target = out or Path(f"evidence-{event.strip().lower()}.json")
    service.write_whole(target, service.dump_bundle(bundle), service.EVIDENCE_BUNDLE)
    _out.print(
        f"event {event}: leaf {bundle.leaf_index} of a tree of {bundle.tree_size:,} leaves, "
        f"{len(bundle.inclusion_proof)} proof hashes, {len(bundle.cosignatures)} cosignatures"
    )
    _out.print(f"evidence bundle written to {plain(target)}")


def verify_bundle(
    file: Annotated[
        Path, typer.Argument(parser=path, metavar="FILE", help="The bundle file (JSON).")
    ],
    key: Annotated[
        list[str],
        typer.Option(
            "--key", metavar="KEY", help="The node's verifier key (name+id+key); repeatable."
        ),
    ],
    witness_key: Annotated[
        list[str] | None,
        typer.Option(
            "--witness-key", metavar="KEY", help="A trusted witness's cosignature key; repeatable."
        ),
    ] = None,
    min_witnesses: Annotated[
        int,
        typer.Option(
            min=0, metavar="INT", help="Distinct trusted witnesses that must have cosigned."
        ),
    ] = 0,
    json: JsonOption = False,
) -> None:
    """Check a bundle offline with nothing but public keys; exit 4 if any check fails."""
    data = _read(file, "bundle")
    bundle, report = service.verify_bundle_file(data, key, witness_key or [], min_witnesses)
    if json:
        checks = [{"check": c.name, "status": c.status, "reason": c.reason} for c in report.checks]
        _json({"valid": report.valid, "checks": checks})
    else:
        show_bundle_report(_out, bundle, report)
    if not report.valid:
        failed = ", ".join(check.name for check in report.failures)
        raise TamperDetected(f"the bundle does not verify ({failed})")


def show_bundle_report(
    console: Console, bundle: service.Bundle, report: service.BundleReport
) -> None:
    """Each check with its outcome, then what was proven (only when all hold)."""
    colours = {"ok": "green", "failed": "red", "skipped": "red", "ignored": "dim"}
    for check in report.checks:
        label = check.status.upper() if colours[check.status] == "red" else check.status
        console.print(
            f"[{colours[check.status]}]{label:>7}[/] {check.name}: {plain(check.reason)}",
            soft_wrap=True,
        )
    if report.valid:
        text = bundle.checkpoint.split("\n\n", 1)[0]
        console.print("[bold green]VALID[/]: the event is in the log of this signed checkpoint:")
        console.print(escape(text), soft_wrap=True)


# --- audit -------------------------------------------------------------------------------


def verify(db: DbOption = None, json: JsonOption = False) -> None:
    """Audit the node: events against leaves, tiles, checkpoints; exit 4 on any problem."""
    with _node(db) as node, render.step_progress(_err, "auditing") as progress:
        report = service.verify_node(node, progress)
    if json:
        _json(
            {
                "clean": report.clean,
                "events": report.events,
                "log_size": report.log_size,
                "checkpoints": report.checkpoints,
                "counts": dict(report.counts),
                "problems": [asdict(problem) for problem in report.problems],
            }
        )
    else:
        _show_audit(report)
    if not report.clean:
        total = sum(report.counts.values())
        raise TamperDetected(f"the audit found {total} problem(s)")


def reindex(db: DbOption = None, json: JsonOption = False) -> None:
    """Rebuild from the event rows the indexes, counts and erasures the audit finds wrong,
    and apply the log's erasures to sealed data events hold again."""
    with _node(db) as node, render.step_progress(_err, "reindex") as progress:
        result = service.reindex_node(node, progress)
    if json:
        _json({"found": dict(result.found), "rebuilt": dict(result.rebuilt)})
        return
    if not result.found:
        _out.print(
            "the audit found the indexes, counts and erasures table whole: nothing to rebuild"
        )
        return
    found = ", ".join(f"{kind} {count:,}" for kind, count in sorted(result.found.items()))
    _out.print(f"the audit found: {found}")
    for kind, count in result.rebuilt.items():
        mend = service.REBUILT[kind]
        _out.print(f"{mend.what}: {count:,} {mend.unit}{'' if count == 1 else 's'}")
    _out.print("'cardtrace verify' checks them again")


def _show_audit(report: service.AuditReport) -> None:
    _out.print(
        f"read {report.events:,} events, a log of {report.log_size:,} leaves and "
        f"{report.checkpoints:,} checkpoints"
    )
    for problem in report.problems:
        _out.print(f"[red]PROBLEM[/] {problem.kind}: {plain(problem.message)}")
    shown = Counter(problem.kind for problem in report.problems)
    for kind, count in report.counts.items():
        if count > shown[kind]:
            _out.print(f"[red]PROBLEM[/] {kind}: {count - shown[kind]:,} more not shown")
    if report.clean:
        _out.print("[green]clean[/]: every event, tile and checkpoint agrees")


# --- witnessing --------------------------------------------------------------------------


def consistency(
    old_size: Annotated[
        int,
        typer.Option(
            "--from", min=0, metavar="SIZE", help="The size the witness last cosigned (0: never)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            parser=path,
            metavar="FILE",
            help="Request file (replaces only an earlier one); default: stdout.",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Write a witness request: the latest checkpoint and its consistency proof."""
    with _node(db) as node:
        request = service.consistency_request(node, old_size)
    if out is None:
        sys.stdout.write(request.decode())
    else:
        service.write_whole(out, request, service.WITNESS_REQUEST)
        _err.print(f"witness request from size {old_size} written to {plain(out)}")


def witness(
    request: Annotated[
        Path,
        typer.Argument(
            parser=path, metavar="REQUEST", help="The request ('cardtrace consistency')."
        ),
    ],
    origin_key: Annotated[
        str,
        typer.Option("--origin-key", metavar="KEY", help="The log's verifier key (name+id+key)."),
    ],
    db: DbOption = None,
) -> None:
    """Cosign another node's checkpoint if it extends the one last cosigned for its origin."""
    data = _read(request, "witness request")
    with _node(db) as node:
        cosigned = service.witness(node, data, origin_key)
    print(cosigned.line)
    since = f"consistent with size {cosigned.old_size}" if cosigned.old_size else "first seen"
    _err.print(f"cosigned {plain(cosigned.origin)} at size {cosigned.size:,} ({since})")


@cosignature_app.command("add")
def cosignature_add(
    file: Annotated[
        Path,
        typer.Argument(
            parser=path, metavar="FILE", help="Cosignature line(s) from 'cardtrace witness'."
        ),
    ],
    db: DbOption = None,
) -> None:
    """Store witnesses' cosignatures of this node's checkpoints (trusted witnesses only)."""
    data = _read(file, "cosignature file")
    with _node(db) as node:
        added = service.add_cosignatures(node, data)
    for item in added:
        state = "stored" if item.stored else "already stored"
        _out.print(
            f"{item.witness} cosigned checkpoint #{item.checkpoint_id} (size {item.size:,}) "
            f"at POSIX time {item.cosigned_at}: {state}"
        )
