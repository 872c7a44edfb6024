"""Every library module says what it exports: ``__all__`` covers its own public names.

Front ends (``cardtrace.cli``, whose command functions are registered, not imported)
and private modules (``_name``) are left out.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import cardtrace

MODULES = [
    info.name
    for info in pkgutil.walk_packages(cardtrace.__path__, "cardtrace.")
    if not info.name.startswith("cardtrace.cli")
    and ".migrations" not in info.name
    and not info.name.endswith("__main__")
    and not any(part.startswith("_") for part in info.name.split("."))
]


def own_public_names(module: ModuleType) -> set[str]:
    """Public functions and classes defined in ``module`` itself (not imported)."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and getattr(value, "__module__", None) == module.__name__
    }


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_the_public_names_and_nothing_missing(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    own = own_public_names(module)
    if exported is None:
        assert not own, f"{name} defines {sorted(own)} but has no __all__"
        return
    assert [n for n in exported if not hasattr(module, n)] == []
    assert sorted(own - set(exported)) == [], f"{name}: public names missing from __all__"
