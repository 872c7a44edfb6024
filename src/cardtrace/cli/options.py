"""Options more than one command takes, defined once so they read the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["MAX_CARDS", "DbOption", "JsonOption", "SeedOption", "path"]

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="URL",
        help="Database URL (sqlite:///FILE or postgresql://...); "
        "default: $CARDTRACE_DATABASE_URL, else ./cardtrace.db.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
SeedOption = Annotated[
    int,
    typer.Option(min=0, metavar="INT", help="Seed of the synthetic world: same seed, same world."),
]
#: The most cards a world may have: ``cardtrace.sim.MAX_CARDS``, which a test holds this
#: to (importing the simulator here would load Faker for every command).
MAX_CARDS = 10_000_000


def path(text: str | Path) -> Path:
    """A file or folder named on the command line: the ``parser=`` of every option and
    argument that names one (its name is the type the help shows).

    ``Path("")`` is the current folder, so an empty name (an unset shell variable, say)
    would read or fill the working directory; it is refused instead.
    """
    if isinstance(text, Path):  # an option's default
        return text
    if not text:
        raise typer.BadParameter("an empty name names no file or folder ('.' is this folder)")
    return Path(text)
