"""A plain ``pip install .`` gives a working tool: every library the code imports is declared.

The development extras bring in more (import-linter pulls in click, for one), so an
import of an undeclared library works in the test environment and fails for a user.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


class _Imports(ast.NodeVisitor):
    """Top-level names of absolute imports made at run time (not for type checking)."""

    def __init__(self) -> None:
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.orelse:
                self.visit(statement)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(alias.name.split(".")[0] for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.level == 0:
            self.found.add(node.module.split(".")[0])


def imported_top_level_modules(folder: Path) -> set[str]:
    """The top-level names of every run-time absolute import in the files under ``folder``."""
    imports = _Imports()
    for path in folder.rglob("*.py"):
        imports.visit(ast.parse(path.read_bytes(), str(path)))
    return imports.found


def test_every_imported_library_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {Requirement(line).name.lower() for line in project["dependencies"]}
    distributions = packages_distributions()
    third_party = imported_top_level_modules(ROOT / "src" / "cardtrace") - {
        *sys.stdlib_module_names,
        "cardtrace",
    }
    undeclared = {
        module: distributions.get(module, ["?"])
        for module in sorted(third_party)
        if not {name.lower() for name in distributions.get(module, [])} & declared
    }
    assert undeclared == {}


def test_the_check_sees_an_undeclared_import(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "import click\nfrom typer import echo\nfrom . import b\n"
        "if TYPE_CHECKING:\n    from _typeshed import X\nelse:\n    import rich.console\n"
    )
    assert imported_top_level_modules(tmp_path) == {"click", "typer", "rich"}
