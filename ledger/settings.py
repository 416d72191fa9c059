"""Settings for the ledger section (``AIGC_LEDGER__…``), nested by ``gateway.settings``.

    settings = LedgerSettings(origin="ledger.example.com/aigc", anchor={"every_entries": 500})
    key_path = settings.signing_key_path(data_dir)

Relative key paths resolve against the data directory (``AIGC_DATA_DIR``). With no
``anchor.rpc_url`` the gateway runs a local chain itself (``anchor.node``): Foundry's
``anvil`` as a child process whose state lives in ``<data_dir>/chain`` and survives a
restart, or — without Node.js/anvil, or with ``node="eth_tester"`` — an in-process
eth-tester EVM that lives only as long as the process. Either is fine for a one-command
start and neither is evidence for third parties (only this machine holds the chain):
configure a real JSON-RPC endpoint for that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["AnchorSettings", "LedgerSettings"]


class AnchorSettings(BaseModel):
    """Where and how often checkpoint roots are written to an EVM chain."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # None → a chain the gateway runs itself (see ``node``); else any EVM JSON-RPC URL.
    rpc_url: str | None = None
    # Which local chain, when rpc_url is None: "anvil" (a child process, persistent),
    # "eth_tester" (in-process, gone at exit; what tests use), or "auto" — anvil when it
    # is installed (``make install`` runs ``npm ci``), else eth-tester with a warning.
    node: Literal["auto", "anvil", "eth_tester"] = "auto"
    # The anvil executable; None → node_modules of the project (or cwd), then PATH.
    anvil_path: Path | None = None
    # How long a starting anvil may take to answer JSON-RPC before start-up fails.
    anvil_start_timeout_s: float = Field(default=30.0, gt=0)
    # Checked against the endpoint's eth_chainId when set; EIP-155 replay protection.
    # With anvil: the local chain's id (default 31337), fixed at its first start.
    chain_id: int | None = None
    # Hex private key of the anchoring account (0600). Required with rpc_url.
    key_file: Path | None = None
    # Deployed AnchorRegistry; required with rpc_url (ledger.anchor.deploy_registry).
    contract_address: str | None = None
    every_entries: int = Field(default=1000, ge=1)
    every_s: float = Field(default=60.0, gt=0)
    rpc_timeout_s: float = Field(default=10.0, gt=0)
    retry_initial_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=300.0, gt=0)


class LedgerSettings(BaseModel):
    """The Merkle log: checkpoint origin, signing key, sequencer batching, anchoring."""

    model_config = ConfigDict(extra="forbid")

    # C2SP tlog-checkpoint origin line and signed-note key name: a schema-less URL.
    origin: str = "aigc-gateway.local/ledger"
    signing_key_file: Path = Path("keys/ledger-ed25519.pem")
    # Most leaves integrated in one transaction and covered by one checkpoint.
    batch_max_entries: int = Field(default=1024, ge=1)
    # How long a sequencer leader lingers for more appends before writing (0: group
    # commit only — appends arriving during a write form the next batch).
    batch_wait_ms: float = Field(default=0.0, ge=0)
    anchor: AnchorSettings = Field(default_factory=AnchorSettings)

    @field_validator("origin")
    @classmethod
    def _origin_is_a_key_name(cls, value: str) -> str:
        # C2SP signed-note key names: no whitespace, no "+"; tlog-checkpoint: no scheme.
        if not value or "+" in value or any(ch.isspace() for ch in value) or "://" in value:
            raise ValueError("origin must be a schema-less URL without spaces or '+'")
        return value

    def signing_key_path(self, data_dir: Path) -> Path:
        return _under(data_dir, self.signing_key_file)

    def anchor_key_path(self, data_dir: Path) -> Path | None:
        if self.anchor.key_file is None:
            return None
        return _under(data_dir, self.anchor.key_file)


def _under(data_dir: Path, path: Path) -> Path:
    return path if path.is_absolute() else data_dir / path
