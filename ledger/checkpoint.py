"""C2SP tlog-checkpoint signed notes with Ed25519, and the ledger's signing key file.

A checkpoint commits to the tree head: three body lines (origin, decimal size, base64
root), a blank line, then one signature line per signer (C2SP ``signed-note``)::

    aigc-gateway.local/ledger
    12
    2P+L0eVq3pSj7DU8pYGTb6KmBcp0ScQ1ANkPcTRk2dc=

    — aigc-gateway.local/ledger Zm9vYmFyYmF6...

Usage::

    key = load_or_create_signing_key(data_dir / "keys" / "ledger-ed25519.pem")
    signer = NoteSigner("aigc-gateway.local/ledger", key)
    note = signer.sign(checkpoint_body("aigc-gateway.local/ledger", 12, root))
    checkpoint = NoteVerifier(signer.vkey).verify_checkpoint(note)

The key id is SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4] and the published verifier
key is ``<name>+<hex key id>+<base64(0x01 ‖ public key)>`` (C2SP signed-note, Ed25519).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from common.privatefiles import create_private_once
from ledger.interface import (
    Checkpoint,
    LedgerConfigurationError,
    PublicKeyInfo,
    VerificationError,
)

__all__ = [
    "NoteSigner",
    "NoteVerifier",
    "checkpoint_body",
    "key_id",
    "load_or_create_signing_key",
    "parse_checkpoint_body",
    "split_note",
    "validate_key_name",
]

# C2SP signed-note: signature type byte for Ed25519 keys.
ED25519_TYPE = b"\x01"
# C2SP signed-note: signature lines start with U+2014 EM DASH and a space.
_SIG_PREFIX = "\u2014 "
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_MAX_SIGNATURES = 100  # C2SP signed-note allows verifiers to cap the number of lines


def validate_key_name(name: str) -> str:
    """A key name is non-empty, has no whitespace and no ``+`` (C2SP signed-note)."""
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise LedgerConfigurationError(
            "the ledger origin / key name must be non-empty, without spaces or '+'"
        )
    return name


def key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4] — C2SP signed-note, Ed25519 key ids."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + public_key).digest()[:4]


def checkpoint_body(origin: str, tree_size: int, root_hash: bytes) -> str:
    """The three body lines of a C2SP tlog-checkpoint, each ending in a newline."""
    root = base64.b64encode(root_hash).decode()
    return f"{origin}\n{tree_size}\n{root}\n"


def parse_checkpoint_body(body: str) -> tuple[str, int, bytes]:
    """(origin, tree size, root) from a checkpoint body; extension lines are refused."""
    lines = body.split("\n")
    # Exactly three lines plus the empty string after the final newline (ARCHITECTURE).
    if len(lines) != 4 or lines[3] != "":
        raise VerificationError("checkpoint body must have exactly three lines")
    origin, size_text, root_text = lines[:3]
    if not origin or not _DECIMAL.fullmatch(size_text):
        raise VerificationError("checkpoint origin or tree size is malformed")
    root = _b64decode(root_text, "checkpoint root hash")
    if len(root) != 32:
        raise VerificationError("checkpoint root hash is not 32 bytes")
    return origin, int(size_text), root


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note into its text and its (key name, base64-decoded blob) lines."""
    separator = note.rfind("\n\n")
    if separator < 0 or not note.endswith("\n"):
        raise VerificationError("signed note has no blank line before its signatures")
    text, signature_block = note[: separator + 1], note[separator + 2 :]
    signatures = [_parse_signature_line(line) for line in signature_block[:-1].split("\n")]
    if not 0 < len(signatures) <= _MAX_SIGNATURES:
        raise VerificationError("signed note has no signature lines or too many")
    return text, signatures


def _parse_signature_line(line: str) -> tuple[str, bytes]:
    if not line.startswith(_SIG_PREFIX):
        raise VerificationError("signature line must start with an em dash and a space")
    name, _, blob = line[len(_SIG_PREFIX) :].partition(" ")
    if not name or not blob:
        raise VerificationError("signature line must carry a key name and a signature")
    return name, _b64decode(blob, "signature")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"{what} is not valid base64") from exc


@dataclass(frozen=True, slots=True)
class NoteSigner:
    """Signs note text as ``name`` with an Ed25519 key."""

    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        validate_key_name(self.name)

    @property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        """The verifier key text to publish: ``name+hexid+base64(0x01‖key)``."""
        encoded = base64.b64encode(ED25519_TYPE + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def public_key_info(self, origin: str) -> PublicKeyInfo:
        return PublicKeyInfo(
            origin=origin, key_name=self.name, key_id=self.key_id.hex(), vkey=self.vkey
        )

    def sign(self, text: str) -> str:
        """The signed note: text, blank line, one signature line."""
        if not text.endswith("\n"):
            raise ValueError("note text must end with a newline")
        signature = self.private_key.sign(text.encode())
        blob = base64.b64encode(self.key_id + signature).decode()
        return f"{text}\n{_SIG_PREFIX}{self.name} {blob}\n"


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """Checks notes against one published verifier key (``name+hexid+base64key``)."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        parts = vkey.strip().split("+", 2)  # base64 may itself contain "+"
        if len(parts) != 3:
            raise VerificationError("verifier key must be name+keyid+key")
        name, id_hex, key_text = parts
        key = _b64decode(key_text, "verifier key")
        if len(key) != 33 or key[:1] != ED25519_TYPE:
            raise VerificationError("verifier key is not an Ed25519 key")
        if key_id(name, key[1:]).hex() != id_hex.lower():
            raise VerificationError("verifier key id does not match its name and key")
        return cls(name, bytes.fromhex(id_hex), Ed25519PublicKey.from_public_bytes(key[1:]))

    def verify(self, note: str) -> str:
        """Return the note text if one signature line is ours and valid; else raise."""
        text, signatures = split_note(note)
        for name, blob in signatures:
            # C2SP signed-note: a line counts only if both name and key id match ours.
            if name != self.name or blob[:4] != self.key_id:
                continue
            try:
                self.public_key.verify(blob[4:], text.encode())
            except InvalidSignature as exc:
                raise VerificationError("checkpoint signature is invalid") from exc
            return text
        raise VerificationError(f"note is not signed by {self.name}")

    def verify_checkpoint(self, note: str, *, origin: str | None = None) -> Checkpoint:
        """Verify the signature, then parse the body; ``origin`` defaults to the key name."""
        text = self.verify(note)
        found_origin, size, root = parse_checkpoint_body(text)
        if found_origin != (origin or self.name):
            raise VerificationError(f"checkpoint origin {found_origin!r} is not expected")
        return Checkpoint(origin=found_origin, tree_size=size, root_hash=root.hex(), note=note)


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """Load the PKCS#8 PEM Ed25519 key at ``path``; create it (mode 0600) if absent.

    The key is created once (``common.privatefiles``), so two processes starting together
    agree on one complete key file.
    """
    try:
        return _load_key(path)
    except FileNotFoundError:
        pass
    key = Ed25519PrivateKey.generate()
    if not create_private_once(path, _pem(key)):
        return _load_key(path)  # another process won the race; use its key
    return key


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(path: Path) -> Ed25519PrivateKey:
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise LedgerConfigurationError("the ledger signing key file is unreadable") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise LedgerConfigurationError("the ledger signing key is not an Ed25519 key")
    return key
