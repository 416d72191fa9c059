"""EVM anchoring of checkpoint roots: the contract artifact, web3 backends, the anchorer.

chain = open_anchor(settings.ledger, data_dir)   # a local anvil unless rpc_url is set
anchorer = Anchorer(ledger, chain.anchor, settings.ledger.anchor, chain=chain)
anchorer.start()
anchorer.close()                                 # the loop, then the chain's child process
"""

from __future__ import annotations

from ledger.anchor.anchorer import Anchorer, AnchorStatus, verify_anchor
from ledger.anchor.anvil import AnvilAnchor
from ledger.anchor.fake import FakeAnchor
from ledger.anchor.registry import ANCHORS, AnchorChain, build_anchor, open_anchor
from ledger.anchor.web3_anchor import Web3Anchor, deploy_registry, embedded_anchor, load_account

__all__ = [
    "ANCHORS",
    "AnchorChain",
    "AnchorStatus",
    "Anchorer",
    "AnvilAnchor",
    "FakeAnchor",
    "Web3Anchor",
    "build_anchor",
    "deploy_registry",
    "embedded_anchor",
    "load_account",
    "open_anchor",
    "verify_anchor",
]
