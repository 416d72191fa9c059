"""Anchor backends by configured name: ``build_anchor(settings, data_dir)``.

    anchor = build_anchor(settings.ledger, data_dir)   # embedded unless rpc_url is set

``embedded`` starts an in-process eth-tester chain; ``web3`` talks to
``anchor.rpc_url`` with the key in ``anchor.key_file`` and needs ``contract_address``
(deploy one with ``ledger.anchor.deploy_registry``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ledger.anchor.web3_anchor import Web3Anchor, embedded_anchor
from ledger.interface import Anchor, LedgerConfigurationError
from ledger.settings import LedgerSettings

__all__ = ["ANCHORS", "anchor_backend_name", "build_anchor"]


def _embedded(_settings: LedgerSettings, _data_dir: Path) -> Anchor:
    return embedded_anchor()


def _web3(settings: LedgerSettings, data_dir: Path) -> Anchor:
    anchor = settings.anchor
    key_file = settings.anchor_key_path(data_dir)
    if anchor.rpc_url is None or key_file is None or anchor.contract_address is None:
        raise LedgerConfigurationError(
            "anchoring to an RPC endpoint needs anchor.rpc_url, anchor.key_file and "
            "anchor.contract_address"
        )
    return Web3Anchor.connect(
        anchor.rpc_url,
        key_file=key_file,
        contract_address=anchor.contract_address,
        chain_id=anchor.chain_id,
        timeout_s=anchor.rpc_timeout_s,
    )


ANCHORS: dict[str, Callable[[LedgerSettings, Path], Anchor]] = {
    "embedded": _embedded,
    "web3": _web3,
}


def anchor_backend_name(settings: LedgerSettings) -> str:
    return "embedded" if settings.anchor.rpc_url is None else "web3"


def build_anchor(settings: LedgerSettings, data_dir: Path, name: str | None = None) -> Anchor:
    """The configured anchor backend; ``name`` overrides the choice made from settings."""
    chosen = name or anchor_backend_name(settings)
    try:
        factory = ANCHORS[chosen]
    except KeyError:
        known = ", ".join(sorted(ANCHORS))
        raise LedgerConfigurationError(
            f"unknown anchor backend {chosen!r}; known: {known}"
        ) from None
    return factory(settings, data_dir)
