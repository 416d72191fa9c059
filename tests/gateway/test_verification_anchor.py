"""Verification calls a leaf anchored only when the chain confirms it now."""

from __future__ import annotations

import pytest

from common.types import ContentKind
from gateway.auth import ensure_tenant
from gateway.db import session_scope
from gateway.pipeline import GenerationOrder
from gateway.runtime import Runtime
from gateway.verification import Verifier, anchor_check
from ledger.anchor import Anchorer, embedded_anchor
from ledger.settings import AnchorSettings

pytestmark = pytest.mark.db


def _released_text(runtime: Runtime) -> str:
    with session_scope(runtime.engine) as session:
        ensure_tenant(session, "acme", "cn-marketing")
    order = GenerationOrder(
        tenant_id="acme", kind=ContentKind.TEXT, prompt="春季新品", policy="cn-marketing", actor="t"
    )
    generation = runtime.pipeline.generate(order)
    assert generation.status == "released"
    return runtime.store.read(generation.artifact_path or "").decode()


def test_anchored_only_while_the_chain_has_the_receipt(runtime: Runtime) -> None:
    text = _released_text(runtime)
    assert runtime.anchorer is not None
    assert runtime.anchorer.anchor_now() is not None
    live = runtime.verifier.verify_text(text).to_dict()["ledger"]
    assert live["anchor"] is not None
    assert live["anchor_status"] == "confirmed"

    # The embedded chain dies with its process: after a restart the receipt is still
    # stored, and a new chain does not have it.
    restarted = Anchorer(runtime.ledger_service, embedded_anchor(), AnchorSettings())
    verifier = runtime.verifier
    after_restart = Verifier(
        verifier.readers,
        verifier.ledger,
        verifier.catalog,
        confirm_anchor=anchor_check(restarted),
    )
    after = after_restart.verify_text(text).to_dict()["ledger"]
    assert after["anchor"] is not None  # the receipt is still stored …
    assert after["anchor_status"] == "not_on_chain"  # … and proves nothing now


@pytest.mark.parametrize(("status", "shown"), [("confirmed", True), ("not_on_chain", False)])
def test_the_page_says_anchored_only_when_confirmed(status: str, shown: bool) -> None:
    from gateway.web.strings import _ledger_check

    texts = {"ledger": "Ledger", "proof_ok": "proof ok", "proof_bad": "bad", "anchored": "ANCH"}
    ledger = {"found": True, "proof_ok": True, "index": 3, "matched_by": "content_hash"}
    check = _ledger_check(texts, {**ledger, "anchor": {"tx_hash": "ab"}, "anchor_status": status})
    assert ("ANCH" in check.detail) is shown
