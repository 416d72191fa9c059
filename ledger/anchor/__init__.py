"""EVM anchoring of checkpoint roots: the contract artifact, web3 backends, the anchorer.

anchor = build_anchor(settings.ledger, data_dir)
anchorer = Anchorer(ledger, anchor, settings.ledger.anchor)
anchorer.start()
"""

from __future__ import annotations

from ledger.anchor.anchorer import Anchorer, AnchorStatus, verify_anchor
from ledger.anchor.fake import FakeAnchor
from ledger.anchor.registry import ANCHORS, build_anchor
from ledger.anchor.web3_anchor import Web3Anchor, deploy_registry, embedded_anchor, load_account

__all__ = [
    "ANCHORS",
    "AnchorStatus",
    "Anchorer",
    "FakeAnchor",
    "Web3Anchor",
    "build_anchor",
    "deploy_registry",
    "embedded_anchor",
    "load_account",
    "verify_anchor",
]
