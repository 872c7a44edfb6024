"""The ``cardtrace`` command: a thin layer over :mod:`cardtrace.service`."""

from cardtrace.cli.main import main

__all__ = ["main"]
