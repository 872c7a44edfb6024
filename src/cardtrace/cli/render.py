"""How the CLI shows things: rich tables and progress bars, nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cardtrace.service import FILE_TYPES, CardWalk, IngestSummary, input_bytes
from cardtrace.text import printable

if TYPE_CHECKING:
    from cardtrace.sim import TruthRecord, WorldSummary

__all__ = [
    "card_history",
    "counting_progress",
    "file_progress",
    "ingest_summary",
    "plain",
    "stats",
    "truth",
    "world",
]


def plain(value: object) -> str:
    """Text from outside (a file name, a reason naming one) as printed: not read as markup
    (a name like ``[b]x``), and on one line with no terminal controls (:mod:`cardtrace.text`)."""
    return escape(printable(str(value)))


@contextmanager
def counting_progress(console: Console, unit: str, total: int) -> Iterator[Callable[[int], None]]:
    """A bar counting ``unit`` up to ``total``; yields the function that sets the count."""
    with _bar(console, TextColumn(f"[bold]{unit}"), MofNCompleteColumn()) as bar:
        task = bar.add_task(unit, total=total)
        yield lambda done: bar.update(task, completed=done)


@contextmanager
def step_progress(console: Console, title: str) -> Iterator[Callable[[str, int, int | None], None]]:
    """A bar over the steps of a long command: each step's name, and its count where the
    step has one; yields the function that reports a step."""
    with _bar(
        console, TextColumn(f"[bold]{title}: " + "{task.description}"), MofNCompleteColumn()
    ) as bar:
        task = bar.add_task("", total=None)

        def report(step: str, done: int, total: int | None) -> None:
            bar.update(task, description=step, completed=done, total=total)

        yield report


def _bar(console: Console, label: TextColumn, count: ProgressColumn) -> Progress:
    """A progress bar on ``console`` that shows only on a terminal and vanishes when done."""
    return Progress(
        label,
        BarColumn(),
        count,
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


class FileProgress:
    """A byte-counting bar over all the files of an ingest run."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._task: TaskID | None = None

    def start(self, files: Sequence[Path]) -> None:
        # Without a total (standard input) the bar shows bytes read and no end.
        self._task = self._bar.add_task("ingest", total=input_bytes(files), file="")

    def advance(self, path: Path, size: int) -> None:
        if self._task is not None:
            self._bar.update(self._task, advance=size, file=plain(path.name))


@contextmanager
def file_progress(console: Console) -> Iterator[FileProgress]:
    with _bar(console, TextColumn("[bold]{task.fields[file]}"), DownloadColumn()) as bar:
        yield FileProgress(bar)


def world(console: Console, summary: WorldSummary, out: Path) -> None:
    table = Table(title=f"Synthetic world in {plain(out)}")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("cards", f"{summary.cards:,}")
    table.add_row("events in node files", f"{summary.events:,}")
    table.add_row("node files (besides the ground truth)", f"{len(summary.node_files):,}")
    for typology, count in sorted(summary.cards_by_typology.items()):
        table.add_row(f"cards: {typology}", f"{count:,}")
    for reason, count in sorted(summary.breakpoints.items()):
        table.add_row(f"expected trace breaks: {reason}", f"{count:,}")
    table.add_row("events written invalid on purpose", f"{summary.rejected:,}")
    console.print(table)


def ingest_summary(console: Console, summary: IngestSummary, rejects: Path) -> None:
    table = Table(title=_ingest_title(summary))
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("files", f"{summary.files:,}")
    if summary.ignored_files:
        table.add_row("files in the folders not read", f"{len(summary.ignored_files):,}")
    if summary.ground_truth_files:
        table.add_row("ground-truth files skipped", f"{len(summary.ground_truth_files):,}")
    table.add_row("accepted", f"{summary.accepted:,}")
    for kind, count in sorted(summary.accepted_by_type.items()):
        table.add_row(f"  of which {kind}", f"{count:,}")
    table.add_row("duplicates (already stored)", f"{summary.duplicates:,}")
    table.add_row("rejected", f"{summary.rejected:,}")
    if summary.conflicts:
        table.add_row("  of which conflicts (changed after sending)", f"{summary.conflicts:,}")
    for name, count in summary.rejected_by_field.most_common(8):
        table.add_row(f"  of which {plain(name)}", f"{count:,}")
    _ingest_notes(table, summary)
    console.print(table)
    for file, line, reason in summary.incomplete_files:
        console.print(f"Not read to the end: {plain(file)}, line {line:,}: {plain(reason)}")
    if summary.rejected:
        console.print(f"Rejected records are described in {plain(rejects)}")
    if not summary.files:
        console.print(f"No data files found: cardtrace reads {FILE_TYPES}")
    if summary.ignored_files:
        console.print(f"Not read (another type, or not a file): {_some(summary.ignored_files)}")
    if summary.ground_truth_files:
        console.print(
            f"Skipped as ground truth (name contains 'truth'): "
            f"{_some(summary.ground_truth_files)}; name a file as a PATH to read it"
        )


def _ingest_notes(table: Table, summary: IngestSummary) -> None:
    """The rows of an ingest summary that show only when they count something."""
    notes = (
        ("files not read to the end", len(summary.incomplete_files)),
        (
            "events whose personal data "
            + ("would be erased" if summary.dry_run else "was erased"),
            summary.erased,
        ),
        ("erasures waiting for their event", summary.erasures_waiting),
    )
    for label, count in notes:
        if count:
            table.add_row(label, f"{count:,}")
    for message, count in summary.warnings.most_common(8):
        table.add_row(f"warning: {plain(message)}", f"{count:,}")


def _ingest_title(summary: IngestSummary) -> str:
    if summary.dry_run:
        return "Dry run: nothing stored"
    if summary.stopped:
        return "Ingest stopped: its finished transactions"
    return "Ingest"


def _some(paths: list[Path], shown: int = 3) -> str:
    """The first ``shown`` of ``paths`` as printed text, and how many more there are."""
    text = ", ".join(plain(path) for path in paths[:shown])
    more = len(paths) - shown
    return text + (f" and {more} more" if more > 0 else "")


def stats(console: Console, figures: dict[str, Any]) -> None:
    for title, column, spans in (
        (f"Stored events by type ({figures['backend']})", "type", figures["types"]),
        ("Stored events by node", "node", figures["nodes"]),
    ):
        table = Table(title=title)
        table.add_column(column)
        table.add_column("events", justify="right")
        table.add_column("first occurred (UTC)")
        table.add_column("last occurred (UTC)")
        for name, span in spans.items():
            table.add_row(
                plain(name),
                f"{span['events']:,}",
                _minute(span["first_occurred"]),
                _minute(span["last_occurred"]),
            )
        table.add_row(
            "[bold]total",
            f"{figures['events']:,}",
            _minute(figures["first_occurred"] or ""),
            _minute(figures["last_occurred"] or ""),
        )
        console.print(table)
    console.print(f"{figures['links']:,} link rows; the log holds {figures['log_size']:,} leaves")
    erasures = figures["erasures"]
    if any(erasures.values()):
        console.print(
            f"erasures: {erasures['erased']:,} events' personal data erased, "
            f"{erasures['waiting']:,} waiting for their event, "
            f"{erasures['other_node']:,} naming another node's event (erasing nothing)"
        )
    latest = figures.get("latest_checkpoint")
    if latest is None:
        console.print("no checkpoint yet: run 'cardtrace checkpoint'")
    else:
        state = "witnessed" if latest["witnessed"] else "not witnessed"
        console.print(
            f"latest checkpoint #{latest['id']} of {latest['size']:,} leaves, made "
            f"{_minute(latest['created_at'])} UTC, {state}"
        )


def _minute(time: str) -> str:
    """A canonical time to the minute, as tables show it."""
    return time[:16].replace("T", " ")


def card_history(console: Console, walk: CardWalk) -> None:
    if not walk.events:
        console.print("No stored event of this card.")
        if not walk.issuer_known:
            console.print(
                f"[yellow]The issuer {walk.issuer!r} has no known card format: "
                "check the issuer code (cmcc, ctcc, cucc, ...).[/]"
            )
        return
    table = Table(title="Events of the card, in time order", box=box.SIMPLE_HEAD)
    for column in ("leaf", "when (UTC)", "event", "recorded by", "clear facts"):
        table.add_column(column)
    for event in walk.events:
        table.add_row(
            str(event.seq),
            _minute(event.occurred_at),
            event.type,
            event.node_id,
            _facts(event.leaf),
        )
    console.print(table)


def _facts(leaf: dict[str, Any]) -> str:
    """The clear facts of an event that matter for following the card, briefly."""
    facts = []
    if "from_party" in leaf:
        facts.append(f"{leaf['from_party']} → {leaf['to_party']}")
    for name in ("merchant_id", "premises_id", "agent_id"):
        if name in leaf:
            facts.append(f"at {leaf[name]}")
    for name in ("result", "id_check", "payment_method", "payout_method", "redeem_channel"):
        if name in leaf:
            facts.append(f"{name.split('_')[0]} {leaf[name]}")
    if leaf.get("commitments"):
        facts.append(f"{len(leaf['commitments'])} sealed")
    return ", ".join(facts)


def truth(console: Console, record: TruthRecord) -> None:
    """What the synthetic world's ground truth says about a card, for comparison."""
    table = Table(title="Ground truth of the synthetic world (what a trace should find)")
    for column in ("hop", "kind", "from", "to", "recorded by"):
        table.add_column(column)
    for number, hop in enumerate(record.hops):
        nodes = ", ".join(sorted({event.node_id for event in hop.events})) or "nobody"
        table.add_row(str(number), hop.kind, hop.from_party, hop.to_party, nodes)
    console.print(table)
    for point in record.breakpoints:
        console.print(f"the trace must break at hop {point.hop}: {point.reason} ({point.detail})")
