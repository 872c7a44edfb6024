"""``python -m cardtrace``: the same as the ``cardtrace`` command."""

from cardtrace.cli import main

main()
