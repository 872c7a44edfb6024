"""Reading a small file a user names (an evidence bundle, a key, a settings file) whole.

Such a file is a few kilobytes, but the name may be wrong: ``/dev/zero``, a device, or
a 10 GB file named by mistake would fill memory if read whole. :func:`read_small` reads
at most a limit and refuses the rest, as an :class:`OSError` the caller reports as it
reports a file it cannot read.
"""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = ["read_small"]


def read_small(path: Path, limit: int) -> bytes:
    """The bytes of ``path``; ``OSError`` (``EFBIG``) if it holds more than ``limit``."""
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"it holds more than {limit:,} bytes, far more than it should")
    return data
