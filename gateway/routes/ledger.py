"""The ledger over HTTP: signed checkpoints, entries, inclusion and consistency proofs.

Role ``audit`` (or public with ``AIGC_LEDGER_PUBLIC=true``). Hashes are lowercase hex by
default; ``?encoding=base64`` returns proof hashes in standard base64 instead.
"""

from __future__ import annotations

import base64
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from gateway.auth import Principal, require_role
from gateway.deps import (
    INT64_MAX,
    LedgerIndexPath,
    RuntimeDep,
    known_principal,
    optional_principal,
)
from gateway.models import Role
from gateway.runtime import Runtime

__all__ = ["router"]

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])

Encoding = Literal["hex", "base64"]


async def ledger_reader(
    request: Request,
    runtime: RuntimeDep,
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Runtime:
    """Anyone when the ledger is public; otherwise a key with role audit (or admin)."""
    if not runtime.settings.ledger_public:
        require_role(known_principal(principal), Role.AUDIT)
    return runtime


Reader = Annotated[Runtime, Depends(ledger_reader)]


def _encode(hashes: list[str], encoding: Encoding) -> list[str]:
    if encoding == "hex":
        return hashes
    return [base64.b64encode(bytes.fromhex(h)).decode() for h in hashes]


def _encoded(body: dict[str, Any], encoding: Encoding) -> dict[str, Any]:
    body["hashes"] = _encode(list(body["hashes"]), encoding)
    body["encoding"] = encoding
    return body


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    summary="The latest signed checkpoint (C2SP tlog-checkpoint signed note)",
)
def checkpoint(runtime: Reader) -> PlainTextResponse:
    return PlainTextResponse(runtime.ledger_service.latest_checkpoint())


@router.get("/key", summary="The checkpoint signing key (origin, key id, vkey)")
def public_key(runtime: Reader) -> dict[str, str]:
    return runtime.ledger_service.public_key_info().to_dict()


@router.get("/entries/{index}", summary="One leaf: its JSON and its hash")
def entry(
    index: LedgerIndexPath,
    runtime: Reader,
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> dict[str, Any]:
    """The leaf; another tenant's (or, on a public ledger, anyone's) identifiers withheld.

    Tenant and actor are keyed hashes in leaves written since they became so; the
    generation id (and the manifest label and watermark id that lead to it) is shown
    only to the leaf's own tenant. A withheld field is null (or, in ``attrs``, absent)
    and named in ``redacted`` — such a leaf no longer hashes to ``leaf_hash``, while the
    inclusion proof (which needs only the hash) still checks.
    """
    body = runtime.ledger_service.entry(index).to_dict()
    if not _is_own_leaf(body["leaf"], principal, runtime):
        body["leaf"], body["redacted"] = _withheld(body["leaf"])
    return body


def _withheld(leaf: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Another tenant's leaf without its generation id, nor the pointers that lead back
    to it: the manifest label and the watermark id resolve publicly (``/v1/manifests``,
    ``/v1/matches/byBinding``) to a manifest that names the generation."""
    shown = {**leaf, "generation_id": None}
    redacted = ["generation_id"]
    if shown.get("watermark_id") is not None:
        shown["watermark_id"] = None
        redacted.append("watermark_id")
    attrs = dict(shown.get("attrs") or {})
    if attrs.pop("manifest_label", None) is not None:
        shown["attrs"] = attrs
        redacted.append("attrs.manifest_label")
    return shown, redacted


def _is_own_leaf(leaf: dict[str, Any], principal: Principal | None, runtime: Runtime) -> bool:
    if principal is None:
        return False
    own = {principal.tenant_id, runtime.domains.leaf_identities.tenant(principal.tenant_id)}
    return leaf.get("tenant") in own


@router.get("/proofs/inclusion", summary="Inclusion proof of a leaf in a tree of a size")
def inclusion(
    runtime: Reader,
    index: Annotated[int, Query(ge=0, le=INT64_MAX)],
    tree_size: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None,
    encoding: Encoding = "hex",
) -> dict[str, Any]:
    proof = runtime.ledger_service.inclusion_proof(index, tree_size)
    return _encoded(proof.to_dict(), encoding)


@router.get("/proofs/consistency", summary="Consistency proof between two tree sizes")
def consistency(
    runtime: Reader,
    first: Annotated[int, Query(ge=1, le=INT64_MAX)],
    second: Annotated[int | None, Query(ge=1, le=INT64_MAX)] = None,
    encoding: Encoding = "hex",
) -> dict[str, Any]:
    proof = runtime.ledger_service.consistency_proof(first, second)
    return _encoded(proof.to_dict(), encoding)


@router.get("/anchors", summary="EVM anchor receipts of checkpoint roots")
def anchors(runtime: Reader) -> dict[str, Any]:
    receipts = runtime.ledger_service.anchors()
    status = asdict(runtime.anchorer.status()) if runtime.anchorer is not None else None
    return {"items": [r.to_dict() for r in receipts], "next_cursor": None, "status": status}
