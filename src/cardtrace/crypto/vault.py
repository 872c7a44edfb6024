"""Protected personal data: encrypted with AES-256-GCM, bound to the event it belongs to.

The event id is the associated data, so a ciphertext moved to another row fails to open.
Per-subject data keys (crypto-shredding one person's data) wrap this later; the stored
form carries a version byte so old rows stay readable when that lands.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cardtrace.errors import TamperDetected

__all__ = ["Vault"]

_VERSION = b"\x01"
_NONCE = 12


class Vault:
    """Seals and opens protected blobs under the node's master key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, event_id: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, event_id.encode())

    def open(self, sealed: bytes, event_id: str) -> bytes:
        if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE + 16:
            raise TamperDetected(f"protected data of event {event_id} has an unknown format")
        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, body, event_id.encode())
        except InvalidTag:
            raise TamperDetected(
                f"protected data of event {event_id} fails authentication"
            ) from None
