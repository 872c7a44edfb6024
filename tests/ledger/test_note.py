"""Signed notes, checkpoints and cosignatures, with vectors from Go's sumdb/note."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardtrace.errors import InvalidInput, TamperDetected
from cardtrace.ledger.note import (
    COSIGNATURE_ED25519,
    NOTE_ED25519,
    Checkpoint,
    Signer,
    Verifier,
    cosign,
    open_note,
    parse_checkpoint,
    parse_signature_line,
    sign_note,
    split_note,
    verify_cosignature,
)

# golang.org/x/mod sumdb/note/note_test.go
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngot"
    "pRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox"
    "33WWd1RvMc+QQ=\n"
)
# transparency-dev/formats note/note_cosigv1_test.go: a native 0x04 cosigner key.
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"

ROOT = bytes(range(32))
CHECKPOINT = Checkpoint("example.com/log", 42, ROOT)


def peter() -> Signer:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])[1:]  # type byte || seed
    return Signer("PeterNeumann", seed)


def node_signer() -> Signer:
    return Signer("node.example/a", bytes(32))


def witness_signer(n: int = 1) -> Signer:
    return Signer(f"witness.example/w{n}", bytes([n]) * 32)


# --- keys -------------------------------------------------------------------------------


def test_signer_matches_go_verifier_key() -> None:
    assert peter().verifier().vkey() == PETER_VKEY
    assert Verifier.from_vkey(PETER_VKEY) == peter().verifier()


def test_sign_note_matches_go_output() -> None:
    assert sign_note(TEXT, [peter()]) == TEXT + "\n" + PETER_SIG


def test_cosignature_key_uses_type_0x04() -> None:
    remora = Verifier.from_vkey(REMORA_VKEY)
    assert remora.key_type == COSIGNATURE_ED25519
    assert remora.key_id.hex() == "da77ade7"
    assert remora.vkey() == REMORA_VKEY
    signer = witness_signer()
    assert signer.cosigner_verifier().key_id != signer.verifier().key_id


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # upper case
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # short
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # type 0x65
    ],
)
def test_bad_verifier_keys_are_rejected(vkey: str) -> None:
    with pytest.raises(InvalidInput, match="verifier key"):
        Verifier.from_vkey(vkey)


@given(st.integers(0, len(PETER_VKEY) - 1))
def test_any_mangled_verifier_key_is_rejected(position: int) -> None:
    mangled = bytearray(PETER_VKEY.encode())
    mangled[position] = (mangled[position] + 1) % 128
    with pytest.raises(InvalidInput):
        Verifier.from_vkey(mangled.decode())


def test_signer_rejects_bad_keys_and_names() -> None:
    with pytest.raises(InvalidInput, match="31 bytes"):
        Signer("a", bytes(31))
    with pytest.raises(InvalidInput, match="space or"):
        Signer("a+b", bytes(32))
    with pytest.raises(InvalidInput, match="empty"):
        Signer("", bytes(32))
    assert "PeterNeumann" in repr(peter())
    assert "c74f20a3" in repr(peter())


# --- checkpoints ------------------------------------------------------------------------


def test_checkpoint_text_and_roundtrip() -> None:
    text = CHECKPOINT.format()
    assert text == "example.com/log\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    assert parse_checkpoint(text) == CHECKPOINT
    extended = Checkpoint("o", 0, ROOT, ("ext one", "two"))
    assert parse_checkpoint(extended.format()) == extended


ROOT_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"o\n42\n{ROOT_B64}", "end with a newline"),
        (f"\n42\n{ROOT_B64}\n", "line 1 .origin.: empty"),
        (f" o\n42\n{ROOT_B64}\n", "line 1 .origin.: leading or trailing space"),
        (f"o \n42\n{ROOT_B64}\n", "line 1 .origin.: leading or trailing space"),
        (f"o\x07\n42\n{ROOT_B64}\n", "control character"),
        (f"o\n042\n{ROOT_B64}\n", "line 2 .size."),
        (f"o\n00\n{ROOT_B64}\n", "line 2 .size."),
        (f"o\n+42\n{ROOT_B64}\n", "line 2 .size."),
        (f"o\n-1\n{ROOT_B64}\n", "line 2 .size."),
        (f"o\n 42\n{ROOT_B64}\n", "line 2 .size."),
        (f"o\n42 \n{ROOT_B64}\n", "line 2 .size."),
        (f"o\n4 2\n{ROOT_B64}\n", "line 2 .size."),
        (f"o\n\n{ROOT_B64}\n", "line 2 .size."),
        (f"o\n٤٢\n{ROOT_B64}\n", "line 2 .size."),  # Arabic-Indic digits
        (f"o\n{2**64}\n{ROOT_B64}\n", "line 2 .size."),
        (f"o\n42\n{ROOT_B64} \n", "line 3 .root.: not canonical base64"),
        (f"o\n42\n{ROOT_B64.rstrip('=')}\n", "line 3 .root.: not canonical base64"),
        ("o\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n", "line 3 .root."),
        ("o\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\n", "stray bits"),
        ("o\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n", "31 bytes, not 32"),
        ("o\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\n", "33 bytes, not 32"),
        ("o\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYX-BkaGxwdHh8=\n", "line 3 .root."),
        (f"o\n42\n{ROOT_B64}\n\n", "line 4 .extension.: empty"),
        (f"o\n42\n{ROOT_B64}\next \n", "line 4 .extension.: leading or trailing"),
        ("o\n42\n", "2 lines"),
        ("", "end with a newline"),
    ],
)
def test_malformed_checkpoints_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        parse_checkpoint(text)


def test_checkpoint_constructor_validates() -> None:
    with pytest.raises(InvalidInput, match="origin"):
        Checkpoint("", 1, ROOT)
    with pytest.raises(InvalidInput, match="size"):
        Checkpoint("o", -1, ROOT)
    with pytest.raises(InvalidInput, match="root"):
        Checkpoint("o", 1, ROOT[:31])
    with pytest.raises(InvalidInput, match="line 4"):
        Checkpoint("o", 1, ROOT, ("a\nb",))


@given(
    st.text(st.characters(min_codepoint=0x21, exclude_categories=["Cs"]), min_size=1),
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
)
def test_checkpoint_roundtrip_property(origin: str, size: int, root: bytes) -> None:
    checkpoint = Checkpoint(origin.strip() or "o", size, root)
    assert parse_checkpoint(checkpoint.format()) == checkpoint


# --- notes ------------------------------------------------------------------------------


def test_open_note_verifies_go_signatures() -> None:
    peter_v, enoch_v = Verifier.from_vkey(PETER_VKEY), Verifier.from_vkey(ENOCH_VKEY)
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [peter_v]) == (TEXT, ["PeterNeumann"])
    assert open_note(note, [peter_v, enoch_v]) == (TEXT, ["PeterNeumann", "EnochRoot"])
    assert open_note(TEXT + "\n" + PETER_SIG + PETER_SIG, [peter_v])[1] == ["PeterNeumann"]


def test_note_without_known_signature_is_rejected() -> None:
    with pytest.raises(TamperDetected, match="no valid signature from a known key"):
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])
    with pytest.raises(TamperDetected, match="no valid signature"):
        open_note(TEXT + "\n" + ENOCH_SIG, [Verifier.from_vkey(PETER_VKEY)])


def test_invalid_signature_by_known_key_is_tampering() -> None:
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(TamperDetected, match=r"invalid signature for key PeterNeumann\+c74f20a3"):
        open_note(TEXT + "\n" + bad, [Verifier.from_vkey(PETER_VKEY)])
    altered = TEXT.replace("answer", "Answer") + "\n" + PETER_SIG
    with pytest.raises(TamperDetected, match="invalid signature"):
        open_note(altered, [Verifier.from_vkey(PETER_VKEY)])


def test_unknown_key_sharing_name_or_id_is_ignored() -> None:
    impostor = Signer("PeterNeumann", bytes(32))  # same name, different key ID
    note = sign_note(TEXT, [impostor, peter()])
    assert open_note(note, [peter().verifier()])[1] == ["PeterNeumann"]


class _CollidingVerifier(Verifier):
    """A key whose ID collides with Peter's: 2**32 work in reality, free in a test."""

    @property
    def key_id(self) -> bytes:
        return bytes.fromhex("c74f20a3")


def test_ambiguous_verifiers_are_refused() -> None:
    v = peter().verifier()
    assert open_note(TEXT + "\n" + PETER_SIG, [v, v])[1] == ["PeterNeumann"]
    clash = _CollidingVerifier("PeterNeumann", bytes(32))
    with pytest.raises(InvalidInput, match=r"ambiguous key PeterNeumann\+c74f20a3"):
        open_note(TEXT + "\n" + PETER_SIG, [v, clash])


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        (TEXT, "no blank line"),
        (TEXT + "\n", "no signature lines"),
        (TEXT + "\n" + PETER_SIG[:-1], "must end with a newline"),
        ("\x01" + TEXT + "\n" + PETER_SIG, "control character"),
        ("\udcff" + TEXT + "\n" + PETER_SIG, "not valid UTF-8"),
        (TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZ=\n", "note line 4"),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n", "note line 5: must start with an em"),
        (TEXT + "\n" + PETER_SIG.replace("— ", "- "), "note line 4: must start with an em"),
        (TEXT + "\n" + PETER_SIG.replace("— ", "—"), "note line 4: must start"),
        (TEXT + "\n" + "— PeterNeumann\n", "note line 4: expected"),
        (TEXT + "\n" + "— PeterNeumann AAAAAA==\n", "note line 4: signature is 4 bytes"),
        (TEXT + "\n" + PETER_SIG.replace("=\n", "\n"), "note line 4: not canonical base64"),
        (TEXT + "\n" + PETER_SIG.replace("\n", " \n"), "note line 4: not canonical"),
        (TEXT + "\n" + PETER_SIG * 101, "more than 100"),
    ],
)
def test_malformed_notes_are_rejected(note: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        open_note(note, [Verifier.from_vkey(PETER_VKEY)])


def test_sign_note_needs_a_newline_terminated_text() -> None:
    with pytest.raises(InvalidInput, match="end with a newline"):
        sign_note("abc", [peter()])
    with pytest.raises(InvalidInput, match="signer"):
        sign_note(TEXT, [])


def test_roundtrip_checkpoint_note_with_two_signers() -> None:
    a, b = node_signer(), Signer("node.example/b", bytes([7]) * 32)
    note = sign_note(CHECKPOINT.format(), [a, b])
    text, names = open_note(note, [a.verifier(), b.verifier()])
    assert parse_checkpoint(text) == CHECKPOINT
    assert names == ["node.example/a", "node.example/b"]
    assert split_note(note)[1][0] == parse_signature_line(note.splitlines()[4])


@given(st.data())
def test_flipping_any_note_bit_fails(data: st.DataObject) -> None:
    signer = node_signer()
    note = sign_note(CHECKPOINT.format(), [signer]).encode()
    position = data.draw(st.integers(0, len(note) - 1))
    mutated = bytearray(note)
    mutated[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises((InvalidInput, TamperDetected, UnicodeDecodeError)):
        open_note(mutated.decode("utf-8"), [signer.verifier()])


# --- cosignatures -----------------------------------------------------------------------


def test_cosignature_roundtrip_and_layout() -> None:
    witness = witness_signer()
    text = CHECKPOINT.format()
    line = cosign(text, witness, 1679315147)
    parsed = parse_signature_line(line)
    assert parsed.name == "witness.example/w1"
    assert parsed.key_id == witness.cosigner_verifier().key_id
    assert len(parsed.signature) == 8 + 64
    assert int.from_bytes(parsed.signature[:8], "big") == 1679315147
    message = b"cosignature/v1\ntime 1679315147\n" + text.encode()
    assert parsed.signature[8:] == witness.sign(message)
    assert verify_cosignature(text, line, witness.cosigner_verifier()) == 1679315147


def test_cosigned_note_opens_with_witness_keys() -> None:
    node, witness = node_signer(), witness_signer()
    text = CHECKPOINT.format()
    note = sign_note(text, [node]) + cosign(text, witness, 1) + "\n"
    both = [node.verifier(), witness.cosigner_verifier()]
    assert open_note(note, both)[1] == ["node.example/a", "witness.example/w1"]
    assert open_note(note, [witness.cosigner_verifier()])[1] == ["witness.example/w1"]


def test_bad_cosignatures_are_rejected() -> None:
    witness, other = witness_signer(1), witness_signer(2)
    text = CHECKPOINT.format()
    line = cosign(text, witness, 100)
    with pytest.raises(TamperDetected, match=r"not witness\.example/w2"):
        verify_cosignature(text, line, other.cosigner_verifier())
    with pytest.raises(InvalidInput, match="not a cosignature"):
        verify_cosignature(text, line, witness.verifier())
    other_text = Checkpoint("example.com/log", 43, ROOT).format()
    with pytest.raises(TamperDetected, match="invalid signature"):
        verify_cosignature(other_text, line, witness.cosigner_verifier())
    parsed = parse_signature_line(line)
    later = parsed._replace(signature=(101).to_bytes(8, "big") + parsed.signature[8:])
    with pytest.raises(TamperDetected, match="invalid signature"):
        verify_cosignature(text, later.format(), witness.cosigner_verifier())
    huge = parsed._replace(signature=(2**63).to_bytes(8, "big") + parsed.signature[8:])
    with pytest.raises(TamperDetected):
        verify_cosignature(text, huge.format(), witness.cosigner_verifier())
    with pytest.raises(InvalidInput, match="cosignature"):
        verify_cosignature(text, line + "\n", witness.cosigner_verifier())


def test_cosign_refuses_bad_input() -> None:
    with pytest.raises(InvalidInput, match="time"):
        cosign(CHECKPOINT.format(), witness_signer(), -1)
    with pytest.raises(InvalidInput, match="time"):
        cosign(CHECKPOINT.format(), witness_signer(), 2**63)
    with pytest.raises(InvalidInput, match="checkpoint"):
        cosign("not a checkpoint\n", witness_signer(), 1)


def test_note_key_types_are_distinct() -> None:
    assert NOTE_ED25519 == 1
    assert COSIGNATURE_ED25519 == 4
