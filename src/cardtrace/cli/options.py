"""Options more than one command takes, defined once so they read the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["DbOption", "JsonOption"]

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
