"""The pure verifier: proofs, checkpoints and proof bundles, with no database.

This is what the verification endpoint and third parties run. Hashes may be given as
raw bytes or lowercase hex; every check raises ``VerificationError`` with a sentence
saying what failed::

    verify_inclusion(leaf_hash, index=3, tree_size=8, proof=hashes, root=root)
    verify_consistency(first=4, second=8, proof=hashes, first_root=r4, second_root=r8)
    checkpoint = verify_checkpoint(note_text, vkey)
    result = verify_bundle(json.load(open("proof.json")))   # BundleVerification
    result.ok, result.reason

A proof bundle (``ledger prove INDEX``) is one JSON object::

    {"format": "aigc-gateway/ledger-proof/v1",
     "entry": {"index", "leaf_hash", "leaf"},
     "inclusion_proof": {"index", "tree_size", "hashes"},
     "checkpoint": "<signed note>",
     "public_key": {"origin", "key_name", "key_id", "vkey", "algorithm"},
     "anchor": {"chain_id", "contract", "tx_hash", "block_number", "root_hash",
                "tree_size", "anchored_at"} | null}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import rfc8785

from ledger.checkpoint import NoteVerifier
from ledger.interface import (
    AnchorReceipt,
    BundleProblem,
    BundleVerification,
    Checkpoint,
    Entry,
    InclusionProof,
    PublicKeyInfo,
    VerificationError,
)
from ledger.merkle import hash_children, hash_leaf

__all__ = [
    "BUNDLE_FORMAT",
    "leaf_data",
    "leaf_hash_of",
    "make_bundle",
    "verify_bundle",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]

BUNDLE_FORMAT = "aigc-gateway/ledger-proof/v1"
_MAX_PROOF_HASHES = 64  # a log of fewer than 2**63 leaves never needs more


def leaf_data(leaf: Mapping[str, Any]) -> bytes:
    """The bytes a leaf hash covers: the RFC 8785 canonical JSON of the leaf object.

    Leaves hold only ASCII keys, strings, safe integers, booleans, nulls and one nested
    object. For those, RFC 8785 equals ``json.dumps`` with sorted keys, no spaces and
    no ASCII escaping (§3.2.2.2 escapes exactly what json escapes, lowercase ``\\u00xx``;
    §3.2.3 UTF-16 key order equals code-point order for ASCII keys). That fast path is
    ~10× quicker than the general serializer; anything else goes through ``rfc8785``.
    """
    if _is_plain(leaf, depth=0):
        text = json.dumps(leaf, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let rfc8785 refuse it with its own error
    return bytes(rfc8785.dumps(dict(leaf)))


_MAX_SAFE_INTEGER = 2**53 - 1  # RFC 8785 §3.2.2.3 / I-JSON: larger integers are refused


def _is_plain(value: object, *, depth: int) -> bool:
    if value is None or isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER
    if isinstance(value, Mapping) and depth < 2:
        return all(
            isinstance(key, str) and key.isascii() and _is_plain(item, depth=depth + 1)
            for key, item in value.items()
        )
    return False


def leaf_hash_of(leaf: Mapping[str, Any]) -> bytes:
    return hash_leaf(leaf_data(leaf))


def _as_hash(value: bytes | str, what: str) -> bytes:
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value)
        except ValueError as exc:
            raise VerificationError(f"{what} is not hex") from exc
    if len(value) != 32:
        raise VerificationError(f"{what} is not a 32-byte SHA-256 hash")
    return value


def _as_hashes(values: Sequence[bytes | str]) -> list[bytes]:
    if len(values) > _MAX_PROOF_HASHES:
        raise VerificationError("proof has too many hashes")
    return [_as_hash(value, "proof hash") for value in values]


def _lsb(n: int) -> bool:
    return bool(n & 1)


def verify_inclusion(
    leaf_hash: bytes | str,
    *,
    index: int,
    tree_size: int,
    proof: Sequence[bytes | str],
    root: bytes | str,
) -> None:
    """RFC 9162 §2.1.3.2: the leaf at ``index`` is in the tree with ``root``."""
    if not 0 <= index < tree_size:
        raise VerificationError("leaf index is outside the tree")
    fn, sn = index, tree_size - 1
    result = _as_hash(leaf_hash, "leaf hash")
    for sibling in _as_hashes(proof):
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the tree is deep")
        if _lsb(fn) or fn == sn:
            result = hash_children(sibling, result)
            while not _lsb(fn) and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = hash_children(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("inclusion proof is too short for the tree size")
    if result != _as_hash(root, "root hash"):
        raise VerificationError("inclusion proof does not lead to the root hash")


def verify_consistency(
    *,
    first: int,
    second: int,
    proof: Sequence[bytes | str],
    first_root: bytes | str,
    second_root: bytes | str,
) -> None:
    """RFC 9162 §2.1.4.2: the tree of ``first`` leaves is a prefix of the ``second``."""
    old_root, new_root = _as_hash(first_root, "first root"), _as_hash(second_root, "second root")
    path = _as_hashes(proof)
    if not 0 < first <= second:
        raise VerificationError("consistency needs 0 < first <= second")
    if first == second:
        if path or old_root != new_root:
            raise VerificationError("equal sizes need an empty proof and equal roots")
        return
    if not path:
        raise VerificationError("consistency proof is empty")
    if first & (first - 1) == 0:  # an exact power of two: the old root is a subtree
        path.insert(0, old_root)
    fn, sn = first - 1, second - 1
    while _lsb(fn):
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is too long")
        if _lsb(fn) or fn == sn:
            fr, sr = hash_children(node, fr), hash_children(node, sr)
            while not _lsb(fn) and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = hash_children(sr, node)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("consistency proof is too short")
    if fr != old_root or sr != new_root:
        raise VerificationError("consistency proof does not match the roots")


def verify_checkpoint(note: str, vkey: str, *, origin: str | None = None) -> Checkpoint:
    """Check a C2SP tlog-checkpoint's Ed25519 signature and return the parsed head."""
    return NoteVerifier.from_vkey(vkey).verify_checkpoint(note, origin=origin)


# --- proof bundles ---------------------------------------------------------------------


def make_bundle(
    entry: Entry,
    proof: InclusionProof,
    checkpoint_note: str,
    public_key: PublicKeyInfo,
    anchor: AnchorReceipt | None,
) -> dict[str, Any]:
    """The self-contained JSON proof bundle described in the module docstring."""
    return {
        "format": BUNDLE_FORMAT,
        "entry": entry.to_dict(),
        "inclusion_proof": {
            "index": proof.index,
            "tree_size": proof.tree_size,
            "hashes": list(proof.hashes),
        },
        "checkpoint": checkpoint_note,
        "public_key": public_key.to_dict(),
        "anchor": anchor.to_dict() if anchor is not None else None,
    }


class _BundleRejectedError(Exception):
    def __init__(self, problem: BundleProblem, reason: str) -> None:
        super().__init__(reason)
        self.problem, self.reason = problem, reason


def _field(mapping: object, key: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise _BundleRejectedError(BundleProblem.MALFORMED, f"bundle lacks field {key!r}")
    value = mapping[key]
    # bool is an int subclass; an index of ``true`` is malformed, not 1.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise _BundleRejectedError(
            BundleProblem.MALFORMED, f"bundle field {key!r} has the wrong type"
        )
    return value


def verify_bundle(bundle: object, *, trusted_vkey: str | None = None) -> BundleVerification:
    """Verify a proof bundle offline; never raises for bad input, says why instead.

    Without ``trusted_vkey`` the bundle's own public key is used, which proves internal
    consistency only: pin the key published at ``GET /v1/ledger/key`` to prove origin.
    The anchor receipt is checked against the checkpoint here; whether the chain really
    holds it needs ``ledger.anchor.verify_anchor`` and network access.
    """
    try:
        return _verify_bundle(bundle, trusted_vkey)
    except _BundleRejectedError as rejected:
        return BundleVerification(ok=False, reason=rejected.reason, problem=rejected.problem)


def _verify_bundle(bundle: object, trusted_vkey: str | None) -> BundleVerification:
    if _field(bundle, "format", str) != BUNDLE_FORMAT:
        raise _BundleRejectedError(BundleProblem.MALFORMED, "unknown bundle format")
    entry = _field(bundle, "entry", dict)
    proof = _field(bundle, "inclusion_proof", dict)
    index = _field(entry, "index", int)
    if _field(proof, "index", int) != index:
        raise _BundleRejectedError(
            BundleProblem.MALFORMED, "entry and proof name different indices"
        )
    vkey = _field(_field(bundle, "public_key", dict), "vkey", str)
    if trusted_vkey is not None and vkey.strip() != trusted_vkey.strip():
        raise _BundleRejectedError(BundleProblem.UNTRUSTED_KEY, "bundle key is not the trusted key")
    checkpoint = _checked_checkpoint(_field(bundle, "checkpoint", str), vkey)
    leaf_hash = _checked_leaf_hash(entry)
    tree_size = _field(proof, "tree_size", int)
    if tree_size != checkpoint.tree_size:
        raise _BundleRejectedError(BundleProblem.MALFORMED, "proof and checkpoint sizes differ")
    hashes = _field(proof, "hashes", list)
    try:
        verify_inclusion(
            leaf_hash, index=index, tree_size=tree_size, proof=hashes, root=checkpoint.root_hash
        )
    except (VerificationError, TypeError) as exc:
        raise _BundleRejectedError(BundleProblem.INCLUSION_FAILED, str(exc)) from exc
    anchored = _check_anchor(_field(bundle, "anchor", (dict, type(None))), checkpoint)
    return BundleVerification(
        ok=True,
        reason="entry is included in the signed checkpoint",
        index=index,
        tree_size=tree_size,
        key_id=vkey.split("+", 2)[1],
        anchored=anchored,
    )


def _checked_checkpoint(note: str, vkey: str) -> Checkpoint:
    try:
        return verify_checkpoint(note, vkey)
    except VerificationError as exc:
        raise _BundleRejectedError(BundleProblem.BAD_SIGNATURE, str(exc)) from exc


def _checked_leaf_hash(entry: dict[str, Any]) -> bytes:
    leaf = _field(entry, "leaf", dict)
    claimed = _field(entry, "leaf_hash", str)
    try:
        computed = leaf_hash_of(leaf)
    except (TypeError, ValueError, rfc8785.CanonicalizationError) as exc:
        raise _BundleRejectedError(
            BundleProblem.MALFORMED, "leaf is not canonicalisable JSON"
        ) from exc
    if computed.hex() != claimed:
        raise _BundleRejectedError(
            BundleProblem.LEAF_HASH_MISMATCH, "leaf does not hash to leaf_hash"
        )
    return computed


def _check_anchor(anchor: dict[str, Any] | None, checkpoint: Checkpoint) -> bool:
    if anchor is None:
        return False
    root = _field(anchor, "root_hash", str)
    size = _field(anchor, "tree_size", int)
    if root != checkpoint.root_hash or size != checkpoint.tree_size:
        raise _BundleRejectedError(BundleProblem.ANCHOR_MISMATCH, "anchor is for another tree head")
    return True
