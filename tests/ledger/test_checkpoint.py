"""C2SP tlog-checkpoint signed notes, verifier keys and the signing key file."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoint import (
    NoteSigner,
    NoteVerifier,
    checkpoint_body,
    key_id,
    load_or_create_signing_key,
    parse_checkpoint_body,
)
from ledger.interface import LedgerConfigurationError, VerificationError
from ledger.verify import verify_checkpoint

# golang.org/x/mod/sumdb/note, note_test.go / example: the reference signed note.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = GO_TEXT + (
    "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
)
ROOT = bytes(range(32))


def go_signer() -> NoteSigner:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])[1:]  # drop the 0x01 type byte
    return NoteSigner("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))


def test_signer_reproduces_the_go_reference_note() -> None:
    signer = go_signer()
    assert signer.vkey == GO_VKEY
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.sign(GO_TEXT) == GO_NOTE


def test_verifier_accepts_the_go_reference_note() -> None:
    assert NoteVerifier.from_vkey(GO_VKEY).verify(GO_NOTE) == GO_TEXT


def test_key_id_follows_c2sp() -> None:
    public = go_signer().public_key
    expected = hashlib.sha256(b"PeterNeumann\n\x01" + public).digest()[:4]
    assert key_id("PeterNeumann", public) == expected


def test_checkpoint_round_trip(signer: NoteSigner) -> None:
    note = signer.sign(checkpoint_body(signer.name, 42, ROOT))
    text, _, signature = note.partition("\n\n")
    assert text.split("\n") == [signer.name, "42", base64.b64encode(ROOT).decode()]
    assert signature.startswith(f"— {signer.name} ")
    assert signature.endswith("\n")
    checkpoint = verify_checkpoint(note, signer.vkey)
    assert (checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash) == (
        signer.name,
        42,
        ROOT.hex(),
    )
    assert parse_checkpoint_body(checkpoint_body(signer.name, 42, ROOT)) == (signer.name, 42, ROOT)


def _flip_last_signature_byte(note: str) -> str:
    # Always a different signature (rewriting base64 text can leave the bytes unchanged:
    # the last character before "=" carries padding bits a decoder ignores).
    head, _, line = note.rpartition("— ")
    name, encoded = line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 0x01
    return f"{head}— {name} {base64.b64encode(bytes(raw)).decode()}\n"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.replace("\n42\n", "\n43\n"),
        lambda n: n.replace("— ", "- "),
        lambda n: n.replace("\n\n", "\n"),
        lambda n: _flip_last_signature_byte(n),
        lambda n: n.split("\n\n")[0] + "\n",
        lambda n: n.replace("aigc-gateway.local/ledger\n42", "other.example/log\n42"),
    ],
    ids=["size", "dash", "no blank line", "signature", "unsigned", "origin"],
)
def test_tampered_checkpoints_fail(signer: NoteSigner, mangle) -> None:  # type: ignore[no-untyped-def]
    note = signer.sign(checkpoint_body(signer.name, 42, ROOT))
    with pytest.raises(VerificationError):
        verify_checkpoint(mangle(note), signer.vkey)


def test_extension_lines_are_refused(signer: NoteSigner) -> None:
    note = signer.sign(checkpoint_body(signer.name, 1, ROOT) + "extra\n")
    with pytest.raises(VerificationError, match="three lines"):
        verify_checkpoint(note, signer.vkey)


def test_other_keys_signature_is_not_ours(signer: NoteSigner) -> None:
    other = NoteSigner(signer.name, Ed25519PrivateKey.generate())
    note = other.sign(checkpoint_body(signer.name, 1, ROOT))
    with pytest.raises(VerificationError, match="not signed"):
        verify_checkpoint(note, signer.vkey)


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a3+AhpcQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # bad type/len
        "Peter+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_fail(vkey: str) -> None:
    with pytest.raises(VerificationError):
        NoteVerifier.from_vkey(vkey)


@pytest.mark.parametrize("name", ["", "has space", "a+b"])
def test_key_names_follow_signed_note_rules(name: str) -> None:
    with pytest.raises(LedgerConfigurationError):
        NoteSigner(name, Ed25519PrivateKey.generate())


def test_signing_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "ledger.pem"
    first = load_or_create_signing_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = load_or_create_signing_key(path)
    assert NoteSigner("n", first).vkey == NoteSigner("n", second).vkey
    assert [p.name for p in path.parent.iterdir()] == ["ledger.pem"]


def test_unreadable_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.pem"
    path.write_text("not a key")
    with pytest.raises(LedgerConfigurationError):
        load_or_create_signing_key(path)
