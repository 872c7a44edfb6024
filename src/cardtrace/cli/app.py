"""The commands: parse arguments, call one service function, render the answer."""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, TextIO

import orjson
import typer
from rich.console import Console

from cardtrace import service
from cardtrace.cli import render
from cardtrace.cli.demo import run_demo
from cardtrace.cli.options import MAX_CARDS, DbOption, JsonOption, SeedOption, path
from cardtrace.errors import InvalidInput
from cardtrace.settings import load_settings

__all__ = ["app"]

app = typer.Typer(
    name="cardtrace",
    help="Lawful, privacy-preserving traceability of recycled prepaid top-up cards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Piped or captured output is not squeezed into rich's 80-column default. (No standard
#: output at all, ``>&-``, is refused by :func:`_streams` when a command starts.)
_out = Console() if sys.stdout is not None and sys.stdout.isatty() else Console(width=120)
_err = Console(stderr=True)
#: More than any PIN with its separators and line ends: the rest is not a PIN.
_PIN_INPUT_LIMIT = 1024


def _require_stdout() -> None:
    """Refuse to run without standard output: nothing said there could be read."""
    if sys.stdout is None:
        raise InvalidInput("standard output is closed; redirect it (to /dev/null to discard it)")


def _print_version(asked: bool) -> None:
    if asked:
        _require_stdout()
        print(f"cardtrace {version('cardtrace')}")
        raise typer.Exit


@app.callback()
def _streams(
    _: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Every command needs standard output (``--version`` checks it first: it is eager)."""
    _require_stdout()


@app.command()
def sim(
    out: Annotated[
        Path,
        typer.Option(
            parser=path,
            metavar="DIR",
            help="Folder for the node files and the ground truth: made if missing; an "
            "existing one must be empty or hold an earlier world, which is replaced.",
        ),
    ],
    seed: SeedOption = 1,
    cards: Annotated[
        int, typer.Option(min=1, max=MAX_CARDS, metavar="INT", help="Number of cards.")
    ] = 1000,
    json: JsonOption = False,
) -> None:
    """Generate a synthetic world: one JSON Lines file per node, plus the ground truth."""
    with render.counting_progress(_err, "cards", cards) as advance:
        summary = service.simulate(seed, cards, out, progress=advance)
    if json:
        print(summary.model_dump_json())
    else:
        render.world(_out, summary, out)


@app.command()
def ingest(  # noqa: PLR0917 - Typer passes a command's options by position
    paths: Annotated[
        list[Path],
        typer.Argument(
            parser=path,
            metavar="PATH...",
            help="Files, folders (read recursively) or pipes; - reads standard input.",
            show_default=False,
        ),
    ],
    db: DbOption = None,
    rejects: Annotated[
        Path,
        typer.Option(
            parser=path,
            metavar="FILE",
            help="Where rejected records are described (JSON Lines).",
        ),
    ] = Path("rejects.jsonl"),
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Store nothing, create nothing: count and describe what an ingest would do.",
        ),
    ] = False,
    encoding: Annotated[
        str,
        typer.Option(
            metavar="NAME",
            help="Encoding of JSON Lines and CSV text, e.g. gb18030 for an Excel export "
            "saved on a Chinese Windows (Parquet is always UTF-8).",
        ),
    ] = "utf-8",
    json: JsonOption = False,
) -> None:
    """Store events from JSON Lines, CSV and Parquet files.

    Exit 1 if records were rejected, 2 if a file could not be read to the end (its
    records before the break and all other files are read all the same).
    """
    settings = load_settings(database_url=db)
    committed: service.IngestSummary | None = None

    def keep(summary: service.IngestSummary) -> None:
        nonlocal committed
        committed = summary

    try:
        with service.Node(settings) as node, render.file_progress(_err) as progress:
            summary = node.ingest(
                paths,
                rejects=rejects,
                progress=progress.advance,
                on_commit=keep,
                on_files=progress.start,
                dry_run=dry_run,
                encoding=encoding,
            )
    except BaseException:  # Ctrl-C, SIGTERM or an error: first say what is stored
        if committed is not None:
            committed.stopped = True
            _ingest_summary(committed, rejects, json=json)
        raise
    _ingest_summary(summary, rejects, json=json)
    if summary.incomplete_files:
        raise typer.Exit(2)
    if summary.rejected:
        raise typer.Exit(1)


def _ingest_summary(summary: service.IngestSummary, rejects: Path, *, json: bool) -> None:
    if json:
        print(orjson.dumps(summary.as_dict()).decode())
    else:
        render.ingest_summary(_out, summary, rejects)


@app.command()
def migrate(
    db: DbOption = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="REVISION",
            help="Go up or down to this schema revision (base: none) instead of the newest, "
            "for an older cardtrace.",
            show_default=False,
        ),
    ] = None,
    discard: Annotated[
        bool,
        typer.Option(
            "--discard", help="Go down even where that throws stored data away (it says what)."
        ),
    ] = False,
    json: JsonOption = False,
) -> None:
    """Bring the database's schema up to date, or to the revision an older cardtrace needs.

    Every other command that opens the database brings it up to date too, except a dry run.
    """
    with service.Node(load_settings(database_url=db)) as node:
        before, after = node.migrate(to, discard=discard)
    if json:
        print(orjson.dumps({"before": before, "after": after}).decode())
    elif (before or "base") == after:
        state = "up to date: revision" if to is None else "already at revision"
        _out.print(f"The schema is {state} {after}.")
    else:
        done = "brought up to date" if to is None else "moved"
        _out.print(f"Schema {done}: revision {before or 'base'} -> {after}.")


@app.command()
def stats(db: DbOption = None, json: JsonOption = False) -> None:
    """Counts of stored events by type and by node; the log and its latest checkpoint."""
    with service.Node(load_settings(database_url=db)) as node:
        figures = node.stats()
        checkpoints = service.list_checkpoints(node)
    if checkpoints:
        latest = checkpoints[-1]
        figures["latest_checkpoint"] = {
            "id": latest.id,
            "size": latest.size,
            "created_at": latest.created_at,
            "witnessed": latest.witnessed,
            "cosigned_by": list(latest.cosigned_by),
        }
    if json:
        print(orjson.dumps(figures).decode())
    else:
        render.stats(_out, figures)


@app.command()
def history(
    issuer: Annotated[str, typer.Option(metavar="CODE", help="Issuer code, e.g. cmcc.")],
    serial: Annotated[
        str | None, typer.Option("--serial", metavar="SERIAL", help="Card serial.")
    ] = None,
    pin_stdin: Annotated[
        bool, typer.Option("--pin-stdin", help="Read the PIN from standard input instead.")
    ] = False,
    db: DbOption = None,
    json: Annotated[
        bool, typer.Option("--json", help="Print the events' leaves as one JSON array.")
    ] = False,
) -> None:
    """Every stored event of one card in time order (PINs are read from stdin, never argv)."""
    pin = _read_pin() if pin_stdin else None
    with service.Node(load_settings(database_url=db)) as node:
        walk = node.card_history(issuer, serial=serial, pin=pin)
    if json:
        print(orjson.dumps([event.leaf for event in walk.events]).decode())
    else:
        render.card_history(_out, walk)


@app.command()
def schema() -> None:
    """Print the JSON Schema of every event type."""
    print(orjson.dumps(service.event_schema(), option=orjson.OPT_INDENT_2).decode())


@app.command()
def demo(
    folder: Annotated[
        Path,
        typer.Option(
            parser=path,
            metavar="DIR",
            help="Working folder: made, or emptied if an earlier demo made it (any other "
            "folder is refused).",
        ),
    ] = Path("demo-world"),
    cards: Annotated[
        int,
        typer.Option(min=100, max=MAX_CARDS, metavar="INT", help="Cards in the synthetic world."),
    ] = 3000,
    seed: SeedOption = 7,
) -> None:
    """Generate a world, ingest it into a fresh SQLite file, and walk a fraud card."""
    run_demo(_out, _err, folder=folder, cards=cards, seed=seed)


def _read_pin() -> str:
    """The one PIN on standard input: a line typed at a terminal, else all of a pipe.

    More than one line is refused rather than all but the first ignored: a list piped in
    by mistake would be answered for its first card only.
    """
    source = _standard_input("--pin-stdin")
    text = source.readline() if source.isatty() else source.read(_PIN_INPUT_LIMIT + 1)
    if len(text) > _PIN_INPUT_LIMIT:
        raise InvalidInput(
            f"--pin-stdin reads one PIN; standard input holds over {_PIN_INPUT_LIMIT} characters"
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        raise InvalidInput(
            f"--pin-stdin reads one PIN; standard input holds {len(lines)} lines "
            "(look cards up one at a time)"
        )
    return lines[0] if lines else ""


def _standard_input(reader: str) -> TextIO:
    """Standard input, unless the command was started without one (``<&-``)."""
    if sys.stdin is None:
        raise InvalidInput(f"{reader} reads standard input, which is closed")
    return sys.stdin


from cardtrace.cli.ledger_commands import register as _register_ledger  # noqa: E402

_register_ledger(app)
