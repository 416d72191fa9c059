"""The hash ledger: an RFC 6962/9162 Merkle log of pipeline events with signed checkpoints.

    ledger = open_ledger(engine, settings.ledger, data_dir)
    receipt = ledger.append(EventRecord(type=EventType.STAMP, generation_id=gid, ...))
    ledger.latest_checkpoint()                       # C2SP tlog-checkpoint, text/plain
    ledger.inclusion_proof(receipt.index, tree_size) # InclusionProof(hashes=…)
    audit(engine, ledger.public_key_info().vkey)     # AuditReport
    verify_bundle(ledger.prove(receipt.index))       # BundleVerification

Anchoring lives in ``ledger.anchor`` (imports web3 only when used); the pure verifier
in ``ledger.verify`` needs no database.
"""

from __future__ import annotations

from ledger.audit import audit
from ledger.checkpoint import NoteSigner, NoteVerifier, load_or_create_signing_key
from ledger.interface import (
    AnchorReceipt,
    AppendReceipt,
    AuditReport,
    BundleVerification,
    Checkpoint,
    ConsistencyProof,
    Entry,
    EntryNotFoundError,
    EventRecord,
    EventType,
    InclusionProof,
    PublicKeyInfo,
    TreeSizeError,
    VerificationError,
)
from ledger.models import create_tables
from ledger.service import Ledger, open_ledger
from ledger.settings import AnchorSettings, LedgerSettings
from ledger.verify import (
    verify_bundle,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "AnchorReceipt",
    "AnchorSettings",
    "AppendReceipt",
    "AuditReport",
    "BundleVerification",
    "Checkpoint",
    "ConsistencyProof",
    "Entry",
    "EntryNotFoundError",
    "EventRecord",
    "EventType",
    "InclusionProof",
    "Ledger",
    "LedgerSettings",
    "NoteSigner",
    "NoteVerifier",
    "PublicKeyInfo",
    "TreeSizeError",
    "VerificationError",
    "audit",
    "create_tables",
    "load_or_create_signing_key",
    "open_ledger",
    "verify_bundle",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]
