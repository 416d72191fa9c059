"""Anchor backends by configured name: ``build_anchor(settings, data_dir)``.

    chain = open_anchor(settings.ledger, data_dir)     # local unless rpc_url is set
    chain.anchor.submit(root_hash_hex, tree_size)
    chain.readiness_warnings(), chain.readiness_problems()
    chain.close()                                      # stops a local anvil

``embedded`` is a chain the gateway runs itself, chosen by ``anchor.node``: ``anvil``, a
child process whose state under ``<data_dir>/chain`` survives restarts, or
``eth_tester``, an in-process EVM that lives only as long as the process; ``auto`` takes
anvil when it is installed and otherwise falls back to eth-tester with a warning.
``web3`` talks to ``anchor.rpc_url`` with the key in ``anchor.key_file`` and needs
``contract_address`` (deploy one with ``ledger.anchor.deploy_registry``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ledger.anchor.anvil import AnvilAnchor, locate_anvil, start_anvil_anchor, why_anvil_is_missing
from ledger.anchor.web3_anchor import Web3Anchor, embedded_anchor
from ledger.interface import Anchor, LedgerConfigurationError
from ledger.settings import LedgerSettings

__all__ = ["ANCHORS", "AnchorChain", "anchor_backend_name", "build_anchor", "open_anchor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AnchorChain:
    """An anchor backend plus what the runtime shows in ``/readyz`` and must stop."""

    anchor: Anchor
    # Said once at start-up and shown by /readyz: the gateway works, with less assurance.
    warnings: tuple[str, ...] = ()

    def readiness_warnings(self) -> list[str]:
        return list(self.warnings)

    def readiness_problems(self) -> list[str]:
        # Both the local node and a configured endpoint are asked: an RPC endpoint that
        # went away is a readiness problem, not something the next anchor finds out.
        if isinstance(self.anchor, AnvilAnchor | Web3Anchor):
            problem = self.anchor.readiness_problem()
            return [f"chain: {problem}"] if problem else []
        return []

    def close(self) -> None:
        if isinstance(self.anchor, AnvilAnchor):
            self.anchor.close()


def _embedded(settings: LedgerSettings, data_dir: Path) -> AnchorChain:
    anchor = settings.anchor
    if anchor.node == "eth_tester":
        return AnchorChain(embedded_anchor())
    executable = locate_anvil(anchor.anvil_path)
    if executable is not None:
        return AnchorChain(start_anvil_anchor(executable, anchor, data_dir))
    reason = why_anvil_is_missing()
    if anchor.node == "anvil":
        raise LedgerConfigurationError(f"anchor.node is 'anvil' but {reason}")
    warning = (
        f"chain: {reason}; anchoring to an in-process eth-tester chain that does not "
        "survive a restart"
    )
    log.warning("%s (install Node.js and run `make install` for a persistent one)", warning)
    return AnchorChain(embedded_anchor(), warnings=(warning,))


def _web3(settings: LedgerSettings, data_dir: Path) -> AnchorChain:
    anchor = settings.anchor
    key_file = settings.anchor_key_path(data_dir)
    if anchor.rpc_url is None or key_file is None or anchor.contract_address is None:
        raise LedgerConfigurationError(
            "anchoring to an RPC endpoint needs anchor.rpc_url, anchor.key_file and "
            "anchor.contract_address"
        )
    return AnchorChain(
        Web3Anchor.connect(
            anchor.rpc_url,
            key_file=key_file,
            contract_address=anchor.contract_address,
            chain_id=anchor.chain_id,
            timeout_s=anchor.rpc_timeout_s,
        )
    )


ANCHORS: dict[str, Callable[[LedgerSettings, Path], AnchorChain]] = {
    "embedded": _embedded,
    "web3": _web3,
}


def anchor_backend_name(settings: LedgerSettings) -> str:
    return "embedded" if settings.anchor.rpc_url is None else "web3"


def open_anchor(settings: LedgerSettings, data_dir: Path, name: str | None = None) -> AnchorChain:
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


def build_anchor(settings: LedgerSettings, data_dir: Path, name: str | None = None) -> Anchor:
    """``open_anchor(...).anchor``: for callers that stop nothing (an anvil one gets has
    its own ``close``)."""
    return open_anchor(settings, data_dir, name).anchor
