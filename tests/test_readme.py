"""The docs stay true: the README's two commands, CI, commands and settings documented."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from cardtrace.cli.app import app
from cardtrace.ingest.pipeline import IngestSummary
from cardtrace.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_the_first_code_block_of_the_readme_is_the_two_commands() -> None:
    block = re.search(r"```\w*\n(.*?)```", README, re.DOTALL)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands == ["make demo", "make test"]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    steps = [line for line in lines if line and not line.startswith(("#", "set ", "cd "))]
    assert steps == ["make test"]


def test_every_command_is_in_the_readme_tour() -> None:
    group = typer.main.get_group(app)
    for name in group.commands:
        assert f"cardtrace {name}" in README, f"README does not show 'cardtrace {name}'"


def test_every_setting_is_documented() -> None:
    docs = README + "".join(path.read_text() for path in (ROOT / "docs").glob("*.md"))
    for name in Settings.model_fields:
        assert f"CARDTRACE_{name.upper()}" in docs, f"CARDTRACE_{name.upper()} is undocumented"


def test_every_key_of_the_ingest_summary_is_in_the_ingest_guide() -> None:
    guide = (ROOT / "docs" / "ingest.md").read_text()
    for key in IngestSummary().as_dict():
        assert f"`{key}`" in guide, f"docs/ingest.md does not explain '{key}'"
