"""Signed checkpoints: C2SP signed-note, tlog-checkpoint and tlog-cosignature, Ed25519.

A node signs the text of a :class:`Checkpoint` (origin, tree size, root hash) as a
signed note; witnesses add cosignatures that also commit to a time. The formats are
the C2SP ones byte for byte, so Go's ``golang.org/x/mod/sumdb/note`` and
transparency-dev tooling read what we write, and we read theirs:

* note key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4]; signature =
  Ed25519 over the note text;
* cosignature key ID uses type byte 0x04; signature = timestamp (u64, big-endian) ||
  Ed25519 over ``"cosignature/v1\\ntime <timestamp>\\n"`` + checkpoint text;
* a signature line is ``"— <name> <base64(key ID || signature)>"``;
* a verifier key is ``"<name>+<hex key ID>+<base64(type || public key)>"``.

Malformed text raises :class:`~cardtrace.errors.InvalidInput` naming the line; a
signature that does not verify raises :class:`~cardtrace.errors.TamperDetected`.
See docs/ledger.md for worked examples.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cardtrace.errors import InvalidInput, TamperDetected

__all__ = [
    "COSIGNATURE_ED25519",
    "MAX_SIGNATURES",
    "MAX_TIMESTAMP",
    "MAX_TREE_SIZE",
    "NOTE_ED25519",
    "Checkpoint",
    "SignatureLine",
    "Signer",
    "Verifier",
    "cosign",
    "decode_base64",
    "open_note",
    "parse_checkpoint",
    "parse_signature_line",
    "sign_note",
    "split_note",
    "verify_cosignature",
]

NOTE_ED25519 = 0x01
COSIGNATURE_ED25519 = 0x04
MAX_SIGNATURES = 100  # the spec asks verifiers to accept at least 16
MAX_TIMESTAMP = 2**63 - 1
MAX_TREE_SIZE = 2**64 - 1

_EM_DASH = "\u2014"
_KEY_TYPES = (NOTE_ED25519, COSIGNATURE_ED25519)
_SIZE_RE = re.compile(r"0|[1-9][0-9]*")
_HEX8_RE = re.compile(r"[0-9a-f]{8}")
_BASE64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def decode_base64(value: str, what: str) -> bytes:
    """Canonical standard base64 (RFC 4648 §4, with padding) or ``InvalidInput``."""
    if not _BASE64_RE.fullmatch(value):
        raise InvalidInput(f"{what}: not canonical base64")
    try:
        decoded = base64.b64decode(value, validate=True)
    except binascii.Error as exc:  # pragma: no cover - the pattern already checked
        raise InvalidInput(f"{what}: not base64 ({exc})") from exc
    if base64.b64encode(decoded).decode("ascii") != value:
        raise InvalidInput(f"{what}: not canonical base64 (stray bits in the last character)")
    return decoded


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_key_name(name: str, what: str) -> None:
    if not name:
        raise InvalidInput(f"{what}: key name is empty")
    if "+" in name or any(c.isspace() for c in name):
        raise InvalidInput(f"{what}: key name {name!r} contains a space or '+'")
    _check_chars(name, what)


def _check_chars(text: str, what: str) -> None:
    """Notes are UTF-8 with no control characters other than newline."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{what}: not valid UTF-8") from exc
    for c in text:
        if c < " " and c != "\n":
            raise InvalidInput(f"{what}: control character {c!r}")


def _key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A public key that checks note signatures (type 0x01) or cosignatures (0x04)."""

    name: str
    public_key: bytes
    key_type: int = NOTE_ED25519

    def __post_init__(self) -> None:
        _check_key_name(self.name, "verifier key")
        if len(self.public_key) != 32:
            raise InvalidInput(f"verifier key: Ed25519 key is {len(self.public_key)} bytes")
        if self.key_type not in _KEY_TYPES:
            raise InvalidInput(f"verifier key: unsupported key type 0x{self.key_type:02x}")

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID that signature lines carry."""
        return _key_id(self.name, self.key_type, self.public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse ``name+hex8(key ID)+base64(type || public key)``."""
        name, plus, rest = vkey.partition("+")
        key_id_hex, plus2, material = rest.partition("+")
        if not (plus and plus2):
            raise InvalidInput("verifier key: expected name+keyid+key")
        _check_key_name(name, "verifier key")
        if not _HEX8_RE.fullmatch(key_id_hex):
            raise InvalidInput("verifier key: key ID must be 8 lower-case hex digits")
        raw = decode_base64(material, "verifier key")
        if len(raw) != 33:
            raise InvalidInput(f"verifier key: {len(raw)} bytes of key material, not 33")
        verifier = cls(name, raw[1:], raw[0])
        if verifier.key_id.hex() != key_id_hex:
            raise InvalidInput("verifier key: key ID does not match the key")
        return verifier

    def vkey(self) -> str:
        """This key in verifier-key notation."""
        material = _b64(bytes([self.key_type]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def _signed_message(self, text: str, signature: bytes) -> tuple[bytes, bytes] | None:
        """(message, Ed25519 signature) that ``signature`` claims, or None if misshapen."""
        if self.key_type == NOTE_ED25519:
            return (text.encode(), signature) if len(signature) == 64 else None
        if len(signature) != 72:
            return None
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return None
        return _cosigned_message(text, timestamp), signature[8:]

    def verifies(self, text: str, signature: bytes) -> bool:
        """Whether ``signature`` (without the key ID) is this key's over ``text``."""
        parts = self._signed_message(text, signature)
        if parts is None:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(parts[1], parts[0])
        except InvalidSignature:
            return False
        return True


class Signer:
    """An Ed25519 private key with a key name; signs notes and cosignatures."""

    def __init__(self, name: str, private_key: bytes) -> None:
        _check_key_name(name, "signer")
        if len(private_key) != 32:
            raise InvalidInput(f"signer: Ed25519 private key is {len(private_key)} bytes, not 32")
        self.name = name
        self._key = Ed25519PrivateKey.from_private_bytes(private_key)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __repr__(self) -> str:
        return f"Signer(name={self.name!r}, key_id={self.verifier().key_id.hex()})"

    def verifier(self) -> Verifier:
        """The note-signature verifier (type 0x01) for this key."""
        return Verifier(self.name, self.public_key, NOTE_ED25519)

    def cosigner_verifier(self) -> Verifier:
        """The cosignature verifier (type 0x04) for this key."""
        return Verifier(self.name, self.public_key, COSIGNATURE_ED25519)

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)


class SignatureLine(NamedTuple):
    """One parsed ``— name base64(key ID || signature)`` line."""

    name: str
    key_id: bytes
    signature: bytes

    def format(self) -> str:
        """The line, without its final newline."""
        return f"{_EM_DASH} {self.name} {_b64(self.key_id + self.signature)}"


def parse_signature_line(line: str, what: str = "signature line") -> SignatureLine:
    """Parse one signature line (no final newline) or raise ``InvalidInput``."""
    if not line.startswith(_EM_DASH + " "):
        raise InvalidInput(f"{what}: must start with an em dash and a space")
    name, space, encoded = line[2:].partition(" ")
    if not space:
        raise InvalidInput(f"{what}: expected '— <name> <signature>'")
    _check_key_name(name, what)
    raw = decode_base64(encoded, what)
    if len(raw) < 5:
        raise InvalidInput(f"{what}: signature is {len(raw)} bytes, too short")
    return SignatureLine(name, raw[:4], raw[4:])


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, size and root hash (C2SP tlog-checkpoint)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint line 1 (origin)")
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise InvalidInput(f"checkpoint line 2 (size): {self.size!r} is not a tree size")
        if len(self.root) != 32:
            raise InvalidInput(f"checkpoint line 3 (root): {len(self.root)} bytes, not 32")
        for number, extension in enumerate(self.extensions, start=4):
            _check_line(extension, f"checkpoint line {number} (extension)")

    def format(self) -> str:
        """The note text: one line each for origin, size, root, extensions."""
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


def _check_line(value: str, what: str) -> None:
    if not value:
        raise InvalidInput(f"{what}: empty")
    if "\n" in value:
        raise InvalidInput(f"{what}: contains a newline")
    if value != value.strip():
        raise InvalidInput(f"{what}: leading or trailing space")
    _check_chars(value, what)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text strictly; ``InvalidInput`` names the bad line."""
    if not text.endswith("\n"):
        raise InvalidInput("checkpoint: text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise InvalidInput(f"checkpoint: {len(lines)} lines, need origin, size and root")
    origin, size_text, root_text, *extensions = lines
    _check_line(origin, "checkpoint line 1 (origin)")
    if not _SIZE_RE.fullmatch(size_text):
        raise InvalidInput(
            f"checkpoint line 2 (size): {size_text!r} is not a decimal without sign, "
            "spaces or leading zeros"
        )
    root = decode_base64(root_text, "checkpoint line 3 (root)")
    if len(root) != 32:
        raise InvalidInput(f"checkpoint line 3 (root): decodes to {len(root)} bytes, not 32")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """``text`` signed by each note signer: text, blank line, one line per signature."""
    _check_note_text(text)
    if not signers:
        raise InvalidInput("note: at least one signer is needed")
    lines = []
    for signer in signers:
        key_id = signer.verifier().key_id
        lines.append(SignatureLine(signer.name, key_id, signer.sign(text.encode())).format())
    return text + "\n" + "".join(line + "\n" for line in lines)


def _check_note_text(text: str) -> None:
    if not text.endswith("\n"):
        raise InvalidInput("note: text must end with a newline")
    _check_chars(text, "note")


def split_note(note: str) -> tuple[str, list[SignatureLine]]:
    """The text and the parsed signature lines of a signed note, unverified."""
    _check_chars(note, "note")
    if not note.endswith("\n"):
        raise InvalidInput("note: must end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise InvalidInput("note: no blank line between text and signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise InvalidInput("note: no signature lines after the blank line")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise InvalidInput(f"note: {len(lines)} signatures, more than {MAX_SIGNATURES}")
    first = text.count("\n") + 2
    parsed = [
        parse_signature_line(line, f"note line {first + offset}")
        for offset, line in enumerate(lines)
    ]
    return text, parsed


def open_note(note: str, verifiers: Iterable[Verifier]) -> tuple[str, list[str]]:
    """Verify a signed note; return its text and the names whose signatures verified.

    Signatures by unknown keys are ignored; a signature by a known key that does not
    verify, or the absence of any verified known signature, raises ``TamperDetected``.
    """
    text, lines = split_note(note)
    known = _index_verifiers(verifiers)
    verified: list[str] = []
    for line in lines:
        verifier = known.get((line.name, line.key_id))
        if verifier is None:
            continue
        if not verifier.verifies(text, line.signature):
            raise TamperDetected(f"note: invalid signature for key {line.name}+{line.key_id.hex()}")
        if line.name not in verified:
            verified.append(line.name)
    if not verified:
        raise TamperDetected("note: no valid signature from a known key")
    return text, verified


def _index_verifiers(verifiers: Iterable[Verifier]) -> dict[tuple[str, bytes], Verifier]:
    known: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        slot = (verifier.name, verifier.key_id)
        if slot in known and known[slot] != verifier:
            raise InvalidInput(f"verifiers: ambiguous key {verifier.name}+{slot[1].hex()}")
        known[slot] = verifier
    return known


def _cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_text}".encode()


def cosign(checkpoint_text: str, signer: Signer, time: int) -> str:
    """A witness's cosignature line (no final newline) over checkpoint text at ``time``.

    ``time`` is POSIX seconds; append the line (plus a newline) to the signed note.
    """
    parse_checkpoint(checkpoint_text)
    if isinstance(time, bool) or not 0 <= time <= MAX_TIMESTAMP:
        raise InvalidInput(f"cosignature: time {time!r} is not in [0, 2**63 - 1]")
    ed25519 = signer.sign(_cosigned_message(checkpoint_text, time))
    key_id = signer.cosigner_verifier().key_id
    return SignatureLine(signer.name, key_id, time.to_bytes(8, "big") + ed25519).format()


def verify_cosignature(checkpoint_text: str, line: str, verifier: Verifier) -> int:
    """Check a cosignature line by ``verifier`` over checkpoint text; return its time."""
    if verifier.key_type != COSIGNATURE_ED25519:
        raise InvalidInput(f"cosignature: {verifier.name} is not a cosignature (0x04) key")
    parsed = parse_signature_line(line, "cosignature")
    if (parsed.name, parsed.key_id) != (verifier.name, verifier.key_id):
        raise TamperDetected(
            f"cosignature: signed by {parsed.name}+{parsed.key_id.hex()}, "
            f"not {verifier.name}+{verifier.key_id.hex()}"
        )
    if not verifier.verifies(checkpoint_text, parsed.signature):
        raise TamperDetected(f"cosignature: invalid signature by {verifier.name}")
    return int.from_bytes(parsed.signature[:8], "big")
