"""The ledger's public types: event records, receipts, proofs, checkpoints and errors.

The ledger is an append-only RFC 6962/9162 Merkle log of pipeline events. Every value
that crosses its boundary is a frozen dataclass defined here; hashes are lowercase hex
strings (64 characters for SHA-256) everywhere in these types::

    record = EventRecord(
        type=EventType.STAMP,
        generation_id="gen_01",
        tenant="acme",
        actor="pipeline",
        time="2026-11-23T11:00:00Z",
        artifact_sha256="ab" * 32,
    )
    receipt = ledger.append(record)          # AppendReceipt(index=0, leaf_hash="…")
    proof = ledger.inclusion_proof(receipt.index, tree_size=1)

Error tree (all subclass ``common.errors``)::

    InvalidInputError
    ├── InvalidEventError         422  an event record violates the leaf schema
    ├── TreeSizeError             400  tree_size/index beyond the head, or out of order
    ├── VerificationError         400  a proof, checkpoint or signature does not verify
    └── MalformedBundleError      400  a proof bundle is not in the documented shape
    NotFoundError
    └── EntryNotFoundError        404  no leaf at that index
    ConflictError
    └── DuplicateEventError       409  a generation already has its generation/moderation/stamp
    UnavailableError
    └── LedgerUnavailableError    503  the database refused an append; nothing was written
    UpstreamError
    └── AnchorError               502  the EVM endpoint failed; appends are unaffected
    ConfigurationError
    └── LedgerConfigurationError  500  bad origin, key file or anchor settings
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from common.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
    UpstreamError,
)

__all__ = [
    "LEAF_SCHEMA_VERSION",
    "ONCE_PER_GENERATION",
    "Anchor",
    "AnchorError",
    "AnchorReceipt",
    "AppendReceipt",
    "AttrValue",
    "AuditReport",
    "BundleProblem",
    "BundleVerification",
    "Checkpoint",
    "ConsistencyProof",
    "DuplicateEventError",
    "Entry",
    "EntryNotFoundError",
    "EventRecord",
    "EventType",
    "InclusionProof",
    "InvalidEventError",
    "LedgerConfigurationError",
    "LedgerUnavailableError",
    "MalformedBundleError",
    "PublicKeyInfo",
    "TamperKind",
    "TreeSizeError",
    "VerificationError",
]

# Bumped when the leaf JSON changes shape; verifiers read it from each leaf. Version 2
# added ``event`` (the event type under the name scale-out clients query by); version 1
# leaves, without it, stay valid: a leaf's hash covers its stored bytes, never a rebuild.
LEAF_SCHEMA_VERSION = 2
_READABLE_SCHEMA_VERSIONS = (1, 2)

_HEX64 = re.compile(r"[0-9a-f]{64}")
# RFC 3339 §5.6 date-time, restricted to UTC ("Z") so leaves sort and compare as text.
_RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")
_ATTR_KEY = re.compile(r"[a-z][a-z0-9_.]{0,63}")
# Attribute values are ids, hashes and codes; a cap keeps prompts and outputs out
# (ARCHITECTURE "Ledger": leaves never hold content or personal data).
MAX_ATTR_TEXT = 256
MAX_ID_TEXT = 128

AttrValue = str | int | bool | None


# --- errors ----------------------------------------------------------------------------


class InvalidEventError(InvalidInputError):
    """An event record violates the leaf schema (422)."""

    code = "invalid_ledger_event"


class TreeSizeError(InvalidInputError):
    """A tree size or index lies beyond the current head, or sizes are out of order (400)."""

    http_status = 400
    code = "invalid_tree_size"


class VerificationError(InvalidInputError):
    """A proof, checkpoint or signature does not verify (400); the message says which."""

    http_status = 400
    code = "verification_failed"


class MalformedBundleError(InvalidInputError):
    """A proof bundle is not in the documented shape (400)."""

    http_status = 400
    code = "malformed_bundle"


class EntryNotFoundError(NotFoundError):
    """No leaf exists at the requested index (404)."""

    code = "ledger_entry_not_found"


class DuplicateEventError(ConflictError):
    """A generation already has a leaf of this once-only event type (409); nothing of the
    caller's records was written (other callers in the same batch are unaffected)."""

    code = "duplicate_ledger_event"


class LedgerUnavailableError(UnavailableError):
    """The database failed during an append; the batch was rolled back (503)."""

    code = "ledger_unavailable"


class AnchorError(UpstreamError):
    """The EVM endpoint failed or answered unexpectedly (502)."""

    code = "anchor_failed"


class LedgerConfigurationError(ConfigurationError):
    """Origin, signing key or anchor settings are unusable (500)."""

    code = "ledger_configuration_error"


# --- events ----------------------------------------------------------------------------


class EventType(StrEnum):
    """What happened to an artifact; one leaf per event."""

    GENERATION = "generation"
    MODERATION = "moderation"
    REVIEW_CLAIM = "review_claim"
    REVIEW_RELEASE = "review_release"
    REVIEW_DECISION = "review_decision"
    STAMP = "stamp"
    VERIFICATION = "verification"
    ERASURE = "erasure"
    ADMIN_ACTION = "admin_action"  # a tenant setting changed (generation_id names it)


# One leaf per generation at most: a job redelivered after its worker died re-runs its
# stages, and must not add a second custody start or a second release to the log.
ONCE_PER_GENERATION = frozenset({EventType.GENERATION, EventType.MODERATION, EventType.STAMP})


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One pipeline event, as stored in a leaf. Hashes and ids only — never content.

    ``time`` is an RFC 3339 UTC timestamp ending in ``Z``; every hash is lowercase hex
    SHA-256. ``previous_leaf_hash`` links the events of one generation into a chain of
    custody. ``attrs`` holds further ids, codes and hashes (short scalars only).
    """

    type: EventType
    generation_id: str
    tenant: str
    actor: str
    time: str
    artifact_sha256: str | None = None
    manifest_hash: str | None = None
    watermark_id: str | None = None
    decision: str | None = None
    policy_version: str | None = None
    previous_leaf_hash: str | None = None
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", _event_type(self.type))
        for name in ("generation_id", "tenant", "actor"):
            _require_id(name, getattr(self, name), required=True)
        for name in ("watermark_id", "decision", "policy_version"):
            _require_id(name, getattr(self, name), required=False)
        if not _RFC3339_UTC.fullmatch(self.time):
            raise InvalidEventError("time must be an RFC 3339 UTC timestamp ending in Z")
        for name in ("artifact_sha256", "manifest_hash", "previous_leaf_hash"):
            _require_hex64(name, getattr(self, name))
        object.__setattr__(self, "attrs", _checked_attrs(self.attrs))

    def to_leaf(self) -> dict[str, Any]:
        """The JSON object whose RFC 8785 canonical form is the leaf data."""
        return {
            "v": LEAF_SCHEMA_VERSION,
            "type": str(self.type),
            "event": str(self.type),
            "generation_id": self.generation_id,
            "tenant": self.tenant,
            "actor": self.actor,
            "time": self.time,
            "artifact_sha256": self.artifact_sha256,
            "manifest_hash": self.manifest_hash,
            "watermark_id": self.watermark_id,
            "decision": self.decision,
            "policy_version": self.policy_version,
            "previous_leaf_hash": self.previous_leaf_hash,
            "attrs": dict(self.attrs),
        }

    @classmethod
    def from_mapping(cls, fields: Mapping[str, Any]) -> EventRecord:
        """Build a record from a plain mapping (the pipeline's dict); unknown keys are refused."""
        unknown = sorted(set(fields) - set(cls.__dataclass_fields__))
        if unknown:
            raise InvalidEventError(f"unknown event fields: {', '.join(unknown)}")
        try:
            return cls(**fields)
        except TypeError as exc:  # a required field is missing
            raise InvalidEventError(f"incomplete event: {exc}") from exc

    @classmethod
    def from_leaf(cls, leaf: Mapping[str, Any]) -> EventRecord:
        """Rebuild a record from a leaf object; raise ``InvalidEventError`` if malformed."""
        version = leaf.get("v")
        if version not in _READABLE_SCHEMA_VERSIONS or isinstance(version, bool):
            raise InvalidEventError(f"unsupported leaf schema version {version!r}")
        if version >= 2 and leaf.get("event") != leaf.get("type"):
            raise InvalidEventError("a leaf's event must equal its type")
        fields = {key: value for key, value in leaf.items() if key not in ("v", "event")}
        return cls.from_mapping(fields)


def _event_type(value: object) -> EventType:
    if not isinstance(value, str):
        raise InvalidEventError(f"event type must be a string, not {type(value).__name__}")
    try:
        return EventType(value)
    except ValueError as exc:
        raise InvalidEventError(f"unknown event type {value!r}") from exc


def _require_id(name: str, value: object, *, required: bool) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or not value or len(value) > MAX_ID_TEXT:
        raise InvalidEventError(f"{name} must be a non-empty string of at most {MAX_ID_TEXT}")


def _require_hex64(name: str, value: object) -> None:
    if value is not None and not (isinstance(value, str) and _HEX64.fullmatch(value)):
        raise InvalidEventError(f"{name} must be 64 lowercase hex characters")


def _checked_attrs(attrs: Mapping[str, Any]) -> Mapping[str, AttrValue]:
    checked: dict[str, AttrValue] = {}
    for key, value in attrs.items():
        if not isinstance(key, str) or not _ATTR_KEY.fullmatch(key):
            raise InvalidEventError(f"attrs key {key!r} must match {_ATTR_KEY.pattern}")
        # bool is a subclass of int; floats are refused (RFC 8785 would serialise them,
        # but a leaf should not depend on float formatting).
        if value is not None and not isinstance(value, str | int | bool):
            raise InvalidEventError(f"attrs[{key!r}] must be a string, integer, boolean or null")
        if isinstance(value, str) and len(value) > MAX_ATTR_TEXT:
            raise InvalidEventError(f"attrs[{key!r}] is longer than {MAX_ATTR_TEXT} characters")
        checked[key] = value
    return checked


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppendReceipt:
    """Returned by ``Ledger.append`` once the leaf is durable and covered by a checkpoint."""

    index: int
    leaf_hash: str


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored leaf: its index, its RFC 6962 leaf hash and the event JSON object."""

    index: int
    leaf_hash: str
    leaf: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "leaf_hash": self.leaf_hash, "leaf": dict(self.leaf)}


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 9162 §2.1.3 audit path for leaf ``index`` in the tree of ``tree_size`` leaves."""

    index: int
    tree_size: int
    leaf_hash: str
    hashes: tuple[str, ...]
    root_hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash,
            "hashes": list(self.hashes),
            "root_hash": self.root_hash,
        }


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """RFC 9162 §2.1.4 proof that the tree of ``first`` leaves is a prefix of ``second``."""

    first: int
    second: int
    hashes: tuple[str, ...]
    first_root_hash: str
    second_root_hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "first": self.first,
            "second": self.second,
            "hashes": list(self.hashes),
            "first_root_hash": self.first_root_hash,
            "second_root_hash": self.second_root_hash,
        }


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A parsed C2SP tlog-checkpoint; ``note`` is the complete signed-note text."""

    origin: str
    tree_size: int
    root_hash: str
    note: str


@dataclass(frozen=True, slots=True)
class PublicKeyInfo:
    """What ``GET /v1/ledger/key`` publishes: the origin and the note verifier key."""

    origin: str
    key_name: str
    key_id: str  # 8 hex characters: the C2SP signed-note key id
    vkey: str  # "<name>+<hex key id>+<base64(0x01 ‖ Ed25519 public key)>"
    algorithm: str = "Ed25519"

    def to_dict(self) -> dict[str, str]:
        return {
            "origin": self.origin,
            "key_name": self.key_name,
            "key_id": self.key_id,
            "vkey": self.vkey,
            "algorithm": self.algorithm,
        }


@dataclass(frozen=True, slots=True)
class AnchorReceipt:
    """One checkpoint root written to an EVM chain (the ``Anchored`` event's transaction)."""

    chain_id: int
    contract: str  # EIP-55 checksummed address
    tx_hash: str  # lowercase hex without 0x
    block_number: int
    root_hash: str
    tree_size: int
    anchored_at: str  # RFC 3339 UTC

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TamperKind(StrEnum):
    """How the stored log differs from what was signed."""

    MODIFIED = "modified"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    BAD_CHECKPOINT = "bad_checkpoint"
    BAD_INTERIOR_NODE = "bad_interior_node"


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Result of recomputing the whole tree from storage (``ledger.audit.audit``)."""

    ok: bool
    tree_size: int
    leaves_checked: int
    checkpoints_checked: int
    first_bad_index: int | None = None
    problem: TamperKind | None = None
    detail: str = ""


class BundleProblem(StrEnum):
    MALFORMED = "malformed"
    LEAF_HASH_MISMATCH = "leaf_hash_mismatch"
    INCLUSION_FAILED = "inclusion_failed"
    BAD_SIGNATURE = "bad_signature"
    UNTRUSTED_KEY = "untrusted_key"
    ANCHOR_MISMATCH = "anchor_mismatch"


@dataclass(frozen=True, slots=True)
class BundleVerification:
    """Outcome of ``verify_bundle``; ``reason`` says why in one sentence when not ``ok``."""

    ok: bool
    reason: str
    problem: BundleProblem | None = None
    index: int | None = None
    tree_size: int | None = None
    key_id: str | None = None
    anchored: bool = False


# --- anchoring -------------------------------------------------------------------------


@runtime_checkable
class Anchor(Protocol):
    """Writes checkpoint roots to a chain and reads them back from its event log."""

    name: str

    def submit(self, root_hash: str, tree_size: int) -> AnchorReceipt:
        """Send one ``anchor(root, treeSize)`` transaction and wait for its receipt."""
        ...

    def find(
        self, root_hash: str, tree_size: int, *, block_number: int | None = None
    ) -> list[AnchorReceipt]:
        """Every ``Anchored`` event on chain with exactly this root and size.

        ``block_number`` narrows the log search to one block (a stored receipt's).
        """
        ...
