"""The node's secret keys, kept as files in a folder of their own, never in the database.

One file per key, readable by the owner only. In development a missing key is created on
first use; in production it must exist (``cardtrace keys init``), so a misconfigured node
fails loudly instead of quietly minting tokens nobody else can reproduce.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cardtrace.errors import ConfigurationError
from cardtrace.files import make_a_file_in, read_small

__all__ = ["KEY_NAMES", "KeyStore"]

#: File name -> purpose. Each is 32 random bytes, stored as hex.
KEY_NAMES: dict[str, str] = {
    "link.key": "HMAC key of the link tokens (pseudonyms of identifiers and PINs)",
    "vault.key": "AES-256-GCM master key of the protected personal data",
    "node.key": "Ed25519 private key that signs this node's checkpoints",
    "witness.key": "Ed25519 private key that cosigns other nodes' checkpoints",
}


#: The most a key file may hold: 64 hex digits and a line end, with room to spare.
_MAX_KEY_FILE_BYTES = 4096


@dataclass(frozen=True)
class KeyStore:
    """A folder of key files; ``create_missing`` is true only in development."""

    folder: Path
    create_missing: bool = False

    def secret(self, name: str) -> bytes:
        """The 32-byte key ``name``, created first if allowed and absent."""
        if name not in KEY_NAMES:
            raise ConfigurationError(f"unknown key {name!r}")
        path = self.folder / name
        if not path.exists():
            if not self.create_missing:
                raise ConfigurationError(
                    f"key {name} not found in {self.folder}; run 'cardtrace keys init'"
                )
            self._write(path, secrets.token_bytes(32))
        return self._read(path)

    def exists(self, name: str) -> bool:
        """Whether the key ``name`` is in the folder (it is not created here)."""
        return (self.folder / name).exists()

    def check_can_make(self) -> None:
        """Refuse, making nothing, a folder where keys could not be made: one that is a
        file, or in which (or, if missing, in whose nearest existing parent) no file can
        be made (:func:`~cardtrace.files.make_a_file_in`)."""
        existing = next(folder for folder in (self.folder, *self.folder.parents) if folder.exists())
        if not existing.is_dir():
            where = "" if existing == self.folder else f"cannot be made: {existing} "
            raise ConfigurationError(f"the key folder {self.folder} {where}is a file, not a folder")
        try:
            make_a_file_in(existing)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create keys in the key folder {self.folder}: {exc.strerror}"
            ) from None

    def init(self) -> list[str]:
        """Create every key that does not exist yet; return the names created."""
        created = []
        for name in KEY_NAMES:
            path = self.folder / name
            if not path.exists() and self._write(path, secrets.token_bytes(32)):
                created.append(name)
        return created

    @staticmethod
    def key_id(key: bytes) -> str:
        """A short public name of a key (8 hex digits), so records say which key made them."""
        return hashlib.sha256(b"cardtrace key id\x00" + key).hexdigest()[:8]

    def _write(self, path: Path, key: bytes) -> bool:
        """Write a new key file whole or not at all, never replacing one that exists;
        whether this call made it.

        The key goes to a temporary file first, which is then linked under its name: a
        run stopped half-way leaves no truncated key, and of two processes making the
        same key at once the second keeps the first's (its link fails), so both use it.
        """
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigurationError(f"the key folder {self.folder} is a file, not a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=self.folder)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create {path.name} in the key folder {self.folder}: {exc.strerror}"
            ) from None
        try:
            with os.fdopen(fd, "w") as handle:  # mkstemp makes it readable by the owner only
                handle.write(key.hex() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:  # another process made it first: its key stands
                return False
        except OSError as exc:
            raise ConfigurationError(
                f"cannot write {path.name} in the key folder {self.folder}: {exc.strerror}"
            ) from None
        finally:
            os.unlink(temporary)
        return True

    @staticmethod
    def _read(path: Path) -> bytes:
        try:
            key = bytes.fromhex(read_small(path, _MAX_KEY_FILE_BYTES).decode().strip())
        except OSError as exc:
            raise ConfigurationError(f"key file {path} is unreadable: {exc.strerror}") from None
        except ValueError as exc:  # not text, or not hex
            raise ConfigurationError(f"key file {path} is unreadable: {exc}") from None
        if len(key) != 32:
            raise ConfigurationError(f"key file {path} must hold 32 bytes, holds {len(key)}")
        return key
