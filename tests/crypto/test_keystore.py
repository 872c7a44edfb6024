"""The key folder: keys made whole or not at all, and a folder that cannot hold them named."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from cardtrace.crypto.keystore import KEY_NAMES, KeyStore
from cardtrace.errors import ConfigurationError


def test_a_key_is_made_once_readable_by_its_owner_only_and_kept(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys", create_missing=True)
    key = store.secret("link.key")
    assert store.secret("link.key") == key
    path = tmp_path / "keys" / "link.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["link.key"]  # no temporary left


def test_processes_making_the_same_key_at_once_all_get_the_first(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, create_missing=True)
    barrier = threading.Barrier(8)
    got: list[bytes] = []

    def make() -> None:
        barrier.wait()
        got.append(store.secret("vault.key"))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 8
    assert set(got) == {bytes.fromhex((tmp_path / "vault.key").read_text())}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vault.key"]


def test_inits_at_once_report_each_key_made_by_exactly_one_of_them(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    barrier = threading.Barrier(8)
    reported: list[str] = []

    def init() -> None:
        barrier.wait()
        reported.extend(store.init())

    threads = [threading.Thread(target=init) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(reported) == sorted(KEY_NAMES)


def test_init_makes_every_key_and_then_none(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "k")
    assert store.init() == list(KEY_NAMES)
    assert store.init() == []


@pytest.mark.parametrize(
    ("folder", "reason"),
    [
        ("a-file", "is a file, not a folder"),
        # No file can be made in /proc, not even by root.
        ("/proc/cardtrace-keys", "cannot create link.key in the key folder"),
    ],
)
def test_a_folder_that_cannot_hold_keys_is_named(tmp_path: Path, folder: str, reason: str) -> None:
    (tmp_path / "a-file").write_text("not a folder\n")
    store = KeyStore(tmp_path / folder, create_missing=True)
    with pytest.raises(ConfigurationError, match=reason) as raised:
        store.secret("link.key")
    assert str(tmp_path / folder) in str(raised.value)
    assert (tmp_path / "a-file").read_text() == "not a folder\n"


def test_the_check_that_keys_can_be_made_makes_nothing(tmp_path: Path) -> None:
    for folder in (tmp_path / "new" / "keys", tmp_path):
        KeyStore(folder, create_missing=True).check_can_make()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("folder", "reason"),
    [
        ("a-file", "the key folder {tmp}/a-file is a file, not a folder"),
        ("a-file/keys", "the key folder {tmp}/a-file/keys cannot be made: {tmp}/a-file is a file"),
        ("/proc/cardtrace-keys", "cannot create keys in the key folder /proc/cardtrace-keys: "),
    ],
)
def test_the_check_names_a_folder_where_keys_cannot_be_made(
    tmp_path: Path, folder: str, reason: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder\n")
    with pytest.raises(ConfigurationError, match="^" + re.escape(reason.format(tmp=tmp_path))):
        KeyStore(tmp_path / folder, create_missing=True).check_can_make()
    assert [path.name for path in tmp_path.iterdir()] == ["a-file"]


def test_a_truncated_key_file_is_refused_not_used(tmp_path: Path) -> None:
    (tmp_path / "node.key").write_text("abcd\n")
    os.chmod(tmp_path / "node.key", 0o600)
    with pytest.raises(ConfigurationError, match="must hold 32 bytes, holds 2"):
        KeyStore(tmp_path, create_missing=True).secret("node.key")


def test_a_key_file_that_is_a_device_or_far_too_large_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "node.key").symlink_to("/dev/zero")
    with pytest.raises(ConfigurationError, match="unreadable: it holds more than 4,096 bytes"):
        KeyStore(tmp_path).secret("node.key")
