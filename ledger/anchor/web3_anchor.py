"""Anchoring through web3: any EVM JSON-RPC endpoint, or an in-process eth-tester chain.

    anchor = embedded_anchor()                        # fresh in-process chain + contract
    anchor = Web3Anchor.connect("https://rpc.example", key_file=path,
                                contract_address="0x…", chain_id=11155111)
    receipt = anchor.submit(root_hash_hex, tree_size)
    anchor.find(root_hash_hex, tree_size)             # read back from the event log

The contract's ABI and bytecode come from ``AnchorRegistry.json`` beside this module
(compiled by ``contracts/build.sh``); nothing compiles at run time. web3 is imported
inside the factories so a deployment without anchoring never loads it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from common.jsonsafe import restore_recursion_limit
from common.types import utc_timestamp
from ledger.interface import AnchorError, AnchorReceipt, LedgerConfigurationError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3
    from web3.types import TxParams

__all__ = ["Web3Anchor", "deploy_registry", "embedded_anchor", "load_account", "registry_artifact"]


@cache
def registry_artifact() -> dict[str, Any]:
    """ABI and creation bytecode of ``contracts/AnchorRegistry.sol``."""
    text = resources.files("ledger.anchor").joinpath("AnchorRegistry.json").read_text("utf-8")
    artifact: dict[str, Any] = json.loads(text)
    return artifact


def load_account(key_file: Path) -> LocalAccount:
    """The anchoring account from a file holding its hex private key."""
    from eth_account import Account

    try:
        key = key_file.read_text().strip()
        account: LocalAccount = Account.from_key(key)
    except (OSError, ValueError) as exc:
        raise LedgerConfigurationError("the anchor key file is missing or unreadable") from exc
    return account


def deploy_registry(w3: Web3, account: LocalAccount | None = None) -> str:
    """Deploy AnchorRegistry; return its checksummed address."""
    artifact = registry_artifact()
    contract = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    try:
        if account is None:
            tx_hash = contract.constructor().transact({"from": w3.eth.accounts[0]})
        else:
            tx = contract.constructor().build_transaction(_tx_fields(w3, account))
            signed = account.sign_transaction(cast("dict[str, Any]", tx))
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    except Exception as exc:  # web3 raises many unrelated types; translate them all
        raise AnchorError(f"could not deploy the anchor contract: {exc}") from exc
    return str(receipt["contractAddress"])


def _tx_fields(w3: Web3, account: LocalAccount) -> TxParams:
    return {
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": w3.eth.chain_id,
    }


class Web3Anchor:
    """``Anchor`` over a web3 connection and a deployed AnchorRegistry."""

    def __init__(
        self,
        w3: Web3,
        contract_address: str,
        *,
        account: LocalAccount | None = None,
        expected_chain_id: int | None = None,
        timeout_s: float = 120.0,
        name: str = "web3",
    ) -> None:
        self.name = name
        self._w3 = w3
        self._contract = w3.eth.contract(
            address=w3.to_checksum_address(contract_address), abi=registry_artifact()["abi"]
        )
        self._account = account
        self._expected_chain_id = expected_chain_id
        self._timeout_s = timeout_s
        self._probed: tuple[float, str | None] | None = None  # (when, what it found)

    @classmethod
    def connect(
        cls,
        rpc_url: str,
        *,
        key_file: Path,
        contract_address: str,
        chain_id: int | None = None,
        timeout_s: float = 10.0,
    ) -> Web3Anchor:
        """An anchor on a JSON-RPC endpoint. Nothing is sent until the first ``submit``."""
        from web3 import HTTPProvider, Web3

        w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
        return cls(
            w3,
            contract_address,
            account=load_account(key_file),
            expected_chain_id=chain_id,
            timeout_s=max(timeout_s, 120.0),
        )

    @property
    def contract_address(self) -> str:
        return str(self._contract.address)

    def submit(self, root_hash: str, tree_size: int) -> AnchorReceipt:
        try:
            chain_id = self._checked_chain_id()
            receipt = self._w3.eth.wait_for_transaction_receipt(
                self._send(bytes.fromhex(root_hash), tree_size), timeout=self._timeout_s
            )
        except AnchorError:
            raise
        except Exception as exc:  # connection refused, timeouts, RPC errors: all transient
            raise AnchorError(f"anchoring failed: {exc}") from exc
        if receipt["status"] != 1:
            raise AnchorError("the anchor transaction reverted")
        return AnchorReceipt(
            chain_id=chain_id,
            contract=self.contract_address,
            tx_hash=bytes(receipt["transactionHash"]).hex(),
            block_number=int(receipt["blockNumber"]),
            root_hash=root_hash,
            tree_size=tree_size,
            anchored_at=_now(),
        )

    def readiness_problem(self) -> str | None:
        """Why anchoring cannot work now: the endpoint is unreachable, is another chain,
        or has no contract at the address. Asked at most every few seconds, because a
        load balancer's probes must not become a load on the chain's endpoint."""
        now = time.monotonic()
        if self._probed is None or now - self._probed[0] > _PROBE_TTL_S:
            self._probed = (now, self._probe())
        return self._probed[1]

    def _probe(self) -> str | None:
        try:
            self._checked_chain_id()
            code = self._w3.eth.get_code(self._contract.address)
        except AnchorError as exc:
            return str(exc)
        except Exception as exc:  # refused, timed out, not JSON-RPC: all say "unreachable"
            return f"the chain's RPC endpoint does not answer: {type(exc).__name__}"
        if not bytes(code):
            return f"no contract at {self.contract_address} on this chain (deploy one first)"
        return None

    def _checked_chain_id(self) -> int:
        chain_id = int(self._w3.eth.chain_id)
        if self._expected_chain_id is not None and chain_id != self._expected_chain_id:
            raise AnchorError(f"endpoint is chain {chain_id}, not {self._expected_chain_id}")
        return chain_id

    def _send(self, root: bytes, tree_size: int) -> Any:
        call = self._contract.functions.anchor(root, tree_size)
        if self._account is None:  # an unlocked node account (eth-tester)
            return call.transact({"from": self._w3.eth.accounts[0]})
        tx = call.build_transaction(_tx_fields(self._w3, self._account))
        # eth-account types its argument as a plain dict; TxParams is that dict, typed.
        signed = self._account.sign_transaction(cast("dict[str, Any]", tx))
        return self._w3.eth.send_raw_transaction(signed.raw_transaction)

    def find(
        self, root_hash: str, tree_size: int, *, block_number: int | None = None
    ) -> list[AnchorReceipt]:
        blocks = (
            {"from_block": 0}
            if block_number is None
            else {"from_block": block_number, "to_block": block_number}
        )
        try:
            chain_id = self._checked_chain_id()
            logs = self._contract.events.Anchored().get_logs(
                argument_filters={"root": bytes.fromhex(root_hash)}, **blocks
            )
        except AnchorError:
            raise
        except Exception as exc:
            raise AnchorError(f"reading anchors failed: {exc}") from exc
        return [
            AnchorReceipt(
                chain_id=chain_id,
                contract=self.contract_address,
                tx_hash=bytes(log["transactionHash"]).hex(),
                block_number=int(log["blockNumber"]),
                root_hash=bytes(log["args"]["root"]).hex(),
                tree_size=int(log["args"]["treeSize"]),
                anchored_at=self._block_time(int(log["blockNumber"])),
            )
            for log in logs
            if int(log["args"]["treeSize"]) == tree_size
        ]

    def _block_time(self, block_number: int) -> str:
        timestamp = int(self._w3.eth.get_block(block_number)["timestamp"])
        return utc_timestamp(datetime.fromtimestamp(timestamp, UTC))


def embedded_anchor() -> Web3Anchor:
    """A fresh in-process EVM (eth-tester on py-evm) with AnchorRegistry deployed.

    The chain lives as long as the process: good for a one-command start and tests; its
    receipts prove nothing to anyone else.
    """
    from web3 import EthereumTesterProvider, Web3

    w3 = Web3(EthereumTesterProvider())
    restore_recursion_limit()  # py_ecc, loaded by the provider, raised it to 100,000
    return Web3Anchor(w3, deploy_registry(w3), name="embedded")


_PROBE_TTL_S = 5.0


def _now() -> str:
    return utc_timestamp(datetime.now(UTC).replace(microsecond=0))
