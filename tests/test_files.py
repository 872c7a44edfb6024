"""Reading a small named file whole; writing a file that replaces only its own kind."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from cardtrace.errors import InvalidInput
from cardtrace.files import FileKind, check_output, make_a_file_in, read_small, write_whole


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


def test_a_file_is_made_and_removed_to_tell_a_folder_can_take_one(tmp_path: Path) -> None:
    make_a_file_in(tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError):  # root passes every permission check, not this
        make_a_file_in(Path("/proc"))


def _starts_with_note(start: bytes) -> bool:
    return start.startswith(b"note ")


NOTE = FileKind("note file", "a", "--note", _starts_with_note, sniff=5)
NOTE_STREAM = FileKind("note file", "a", "--note", _starts_with_note, sniff=5, stream=True)


def test_the_check_leaves_no_file_behind_and_changes_none(tmp_path: Path) -> None:
    check_output(tmp_path / "new", NOTE)
    (tmp_path / "old").write_bytes(b"note kept\n")
    (tmp_path / "empty").write_bytes(b"")
    check_output(tmp_path / "old", NOTE)
    check_output(tmp_path / "empty", NOTE)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty", "old"]
    assert (tmp_path / "old").read_bytes() == b"note kept\n"


@pytest.mark.parametrize("kind", [NOTE, NOTE_STREAM])
def test_a_file_of_another_kind_is_refused_naming_it_and_the_option(
    tmp_path: Path, kind: FileKind
) -> None:
    other = tmp_path / "other"
    other.write_bytes(b"database")
    with pytest.raises(InvalidInput) as raised:
        write_whole(other, b"note new\n", kind)
    assert str(raised.value) == (
        f"{other} exists and is not a note file, which would be overwritten; "
        "name another file with --note"
    )
    assert other.read_bytes() == b"database"
    assert [path.name for path in tmp_path.iterdir()] == ["other"]


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("missing/out", "no folder {tmp}/missing"),
        (".", "it is a folder; name a file with --note"),
        ("/proc/out", "No such file or directory"),  # root may write anywhere, but not there
    ],
)
def test_a_path_where_no_file_can_be_written_is_refused_with_the_reason(
    tmp_path: Path, target: str, reason: str
) -> None:
    path = tmp_path / target
    for kind in (NOTE, NOTE_STREAM):
        with pytest.raises(InvalidInput) as raised:
            check_output(path, kind)
        assert str(raised.value) == (
            f"cannot write the note file {path}: {reason.format(tmp=tmp_path)}"
        )


def test_a_device_or_a_pipe_takes_a_stream_but_is_never_replaced_whole(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)  # no one reads it yet: the check must not wait for a reader
    for path, found in ((Path("/dev/null"), "a device"), (pipe, "a pipe")):
        check_output(path, NOTE_STREAM)
        with pytest.raises(InvalidInput, match=f"it is {found}; name a file with --note"):
            write_whole(path, b"note\n", NOTE)
    assert stat.S_ISFIFO(pipe.stat().st_mode)
    assert Path("/dev/null").is_char_device()


def test_a_replaced_file_keeps_its_permissions_and_a_new_one_gets_the_usual_ones(
    tmp_path: Path,
) -> None:
    kept = tmp_path / "kept"
    kept.write_bytes(b"note old\n")
    kept.chmod(0o600)
    write_whole(kept, b"note new\n", NOTE)
    assert (kept.read_bytes(), stat.S_IMODE(kept.stat().st_mode)) == (b"note new\n", 0o600)
    umask = os.umask(0o022)
    try:
        write_whole(tmp_path / "new", b"note\n", NOTE)
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o644


def test_a_name_as_long_as_the_file_system_allows_is_written(tmp_path: Path) -> None:
    longest = tmp_path / ("n" * 255)
    write_whole(longest, b"note\n", NOTE)
    assert longest.read_bytes() == b"note\n"
    assert [path.name for path in tmp_path.iterdir()] == [longest.name]
