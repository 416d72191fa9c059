"""An in-memory ``Anchor`` for other packages' tests: no web3, no chain, optional failures.

anchor = FakeAnchor()
anchor.fail_with = "endpoint down"      # every submit now raises AnchorError
"""

from __future__ import annotations

from datetime import UTC, datetime

from common.types import utc_timestamp
from ledger.interface import AnchorError, AnchorReceipt

__all__ = ["FakeAnchor"]


class FakeAnchor:
    """Records anchors in a list; ``fail_with`` makes ``submit`` raise like a dead RPC."""

    name = "fake"

    def __init__(self, chain_id: int = 1337) -> None:
        self.chain_id = chain_id
        self.events: list[AnchorReceipt] = []
        self.fail_with: str | None = None

    def submit(self, root_hash: str, tree_size: int) -> AnchorReceipt:
        if self.fail_with is not None:
            raise AnchorError(self.fail_with)
        receipt = AnchorReceipt(
            chain_id=self.chain_id,
            contract="0x" + "00" * 20,
            tx_hash=f"{len(self.events) + 1:064x}",
            block_number=len(self.events) + 1,
            root_hash=root_hash,
            tree_size=tree_size,
            anchored_at=utc_timestamp(datetime.now(UTC).replace(microsecond=0)),
        )
        self.events.append(receipt)
        return receipt

    def find(
        self, root_hash: str, tree_size: int, *, block_number: int | None = None
    ) -> list[AnchorReceipt]:
        return [
            event
            for event in self.events
            if (event.root_hash, event.tree_size) == (root_hash, tree_size)
            and block_number in (None, event.block_number)
        ]
