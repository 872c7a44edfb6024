"""Reading a small named file whole, and never more than its limit."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from cardtrace.files import read_small


def test_a_file_up_to_the_limit_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 100)
    assert read_small(tmp_path / "f", 100) == b"x" * 100
    (tmp_path / "e").write_bytes(b"")
    assert read_small(tmp_path / "e", 100) == b""


@pytest.mark.parametrize("source", ["/dev/zero", "big"])
def test_a_file_past_the_limit_is_refused_as_an_os_error(tmp_path: Path, source: str) -> None:
    (tmp_path / "big").write_bytes(b"x" * 101)
    with pytest.raises(OSError, match="more than 100 bytes") as raised:
        read_small(tmp_path / source, 100)
    assert raised.value.errno == errno.EFBIG


def test_a_missing_file_is_the_usual_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_small(tmp_path / "missing", 100)
