"""``aigc-gateway verify FILE``: the verification report on the command line.

Online (default) it uses the gateway's database, ledger and keys under ``AIGC_DATA_DIR``;
with ``--offline-bundle`` it needs neither database nor network: the proof bundle from
``aigc-gateway ledger prove INDEX`` stands in for the ledger, and C2PA trust comes from
``--trust-anchors`` (default: the local root under the data directory)::

    aigc-gateway verify photo.png
    aigc-gateway verify photo.png --json
    aigc-gateway verify photo.png --offline-bundle proof.json --ledger-key "$(curl …/key)"

Exit status: 0 verified (either way), 1 no verifiable provenance (unknown, labelled
only, foreign), 3 tampered, 2 unusable input or settings.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from common.errors import GatewayError
from gateway.verification import ProvenanceSignalReaders, Verdict, VerificationReport, Verifier
from ledger.interface import Entry, EventType, PublicKeyInfo
from ledger.verify import verify_bundle

if TYPE_CHECKING:
    from provenance.watermark import ImageWatermarker

__all__ = ["BundleLedger", "exit_code_for", "verify_command"]

_EXIT_CODES = {
    Verdict.VERIFIED: 0,
    Verdict.VERIFIED_VIA_WATERMARK: 0,
    Verdict.TAMPERED: 3,
}


def exit_code_for(verdict: Verdict) -> int:
    return _EXIT_CODES.get(verdict, 1)


class BundleLedger:
    """``LedgerReader`` over one offline proof bundle (``ledger.verify`` format)."""

    def __init__(self, bundle: Mapping[str, Any]) -> None:
        self.bundle = dict(bundle)
        entry = self.bundle.get("entry") or {}
        self.entry = Entry(
            index=int(entry.get("index", -1)),
            leaf_hash=str(entry.get("leaf_hash", "")),
            leaf=dict(entry.get("leaf") or {}),
        )

    def find_latest(
        self,
        *,
        artifact_sha256: str | None = None,
        manifest_hash: str | None = None,
        watermark_id: str | None = None,
        event_type: EventType | None = None,
    ) -> Entry | None:
        wanted = {
            "artifact_sha256": artifact_sha256,
            "manifest_hash": manifest_hash,
            "watermark_id": watermark_id,
        }
        leaf = self.entry.leaf
        if event_type is not None and leaf.get("type") != str(event_type):
            return None
        matches = any(value is not None and leaf.get(key) == value for key, value in wanted.items())
        return self.entry if matches else None

    def events_for_generation(self, generation_id: str) -> list[Entry]:
        return [self.entry] if self.entry.leaf.get("generation_id") == generation_id else []

    def prove(self, index: int) -> dict[str, Any]:
        return self.bundle if index == self.entry.index else {}

    def public_key_info(self) -> PublicKeyInfo:
        key = self.bundle.get("public_key") or {}
        return PublicKeyInfo(
            origin=str(key.get("origin", "")),
            key_name=str(key.get("key_name", "")),
            key_id=str(key.get("key_id", "")),
            vkey=str(key.get("vkey", "")),
        )


def verify_command(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="File to verify."),
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (the HTTP body).")
    ] = False,
    offline_bundle: Annotated[
        Path | None,
        typer.Option(
            "--offline-bundle",
            exists=True,
            dir_okay=False,
            help="A proof bundle from 'ledger prove': verify without database or network.",
        ),
    ] = None,
    sidecar: Annotated[
        Path | None,
        typer.Option("--sidecar", exists=True, dir_okay=False, help="A detached .c2pa store."),
    ] = None,
    trust_anchors: Annotated[
        Path | None,
        typer.Option("--trust-anchors", exists=True, dir_okay=False, help="PEM roots to trust."),
    ] = None,
    ledger_key: Annotated[
        str | None,
        typer.Option("--ledger-key", help="Pin the ledger's checkpoint key (vkey)."),
    ] = None,
    watermark_key_file: Annotated[
        Path | None,
        typer.Option(
            "--watermark-key-file",
            exists=True,
            dir_okay=False,
            help="Offline: the gateway's image watermark key, to decode stripped images.",
        ),
    ] = None,
    as_text: Annotated[
        bool, typer.Option("--text", help="Treat the file as UTF-8 text (or Markdown).")
    ] = False,
) -> None:
    """Check a file's C2PA manifest, labels, watermark and ledger record; print the verdict."""
    with contextlib.ExitStack() as resources:
        try:
            verifier = _verifier(
                offline_bundle, trust_anchors, ledger_key, watermark_key_file, resources
            )
            report = _run(verifier, file, sidecar, as_text)
        except GatewayError as exc:
            typer.echo(f"cannot verify {file}: {exc.code}: {exc.message}", err=True)
            raise typer.Exit(2) from exc
        except ValueError as exc:  # a bundle that is not JSON, a --text file not UTF-8
            typer.echo(f"cannot verify {file}: {exc}", err=True)
            raise typer.Exit(2) from exc
    body = report.to_dict()
    if offline_bundle is not None:
        body["offline_bundle"] = _bundle_summary(verifier, ledger_key)
    typer.echo(json.dumps(body, ensure_ascii=False, indent=2) if json_output else _human(body))
    raise typer.Exit(exit_code_for(report.verdict))


def _run(verifier: Verifier, file: Path, sidecar: Path | None, as_text: bool) -> VerificationReport:
    data = file.read_bytes()
    if as_text:
        return verifier.verify_text(data.decode("utf-8", errors="strict"))
    sidecar_bytes = sidecar.read_bytes() if sidecar else None
    return verifier.verify_file(data, None, sidecar_bytes)


def _verifier(
    bundle_path: Path | None,
    trust_anchors: Path | None,
    ledger_key: str | None,
    watermark_key_file: Path | None,
    resources: contextlib.ExitStack,
) -> Verifier:
    if bundle_path is None:
        return _online_verifier(ledger_key, resources)
    bundle = json.loads(bundle_path.read_text("utf-8"))
    if not isinstance(bundle, dict):
        raise typer.BadParameter("the bundle is not a JSON object", param_hint="--offline-bundle")
    readers = ProvenanceSignalReaders(
        _anchors_text(trust_anchors), _offline_watermarker(watermark_key_file)
    )
    return Verifier(readers, BundleLedger(bundle), None, trusted_vkey=ledger_key)


def _online_verifier(ledger_key: str | None, resources: contextlib.ExitStack) -> Verifier:
    from gateway.runtime import build_runtime
    from gateway.settings import Settings

    runtime = build_runtime(Settings())
    runtime.start(serving=False)
    resources.callback(runtime.close)
    verifier = runtime.verifier
    if ledger_key:
        verifier = Verifier(
            verifier.readers,
            verifier.ledger,
            verifier.catalog,
            trusted_vkey=ledger_key,
            max_bytes=verifier.max_bytes,
            max_image_pixels=verifier.max_image_pixels,
        )
    return verifier


def _anchors_text(path: Path | None) -> str | None:
    if path is not None:
        return path.read_text("utf-8")
    from gateway.settings import Settings

    settings = Settings()
    root = (settings.provenance.keys_dir or settings.data_dir / "keys") / "root.pem"
    return root.read_text("utf-8") if root.is_file() else None


def _offline_watermarker(path: Path | None) -> ImageWatermarker | None:
    if path is None:
        return None
    from provenance.watermark import build_watermarker

    return build_watermarker(key=path.read_bytes().strip())


def _bundle_summary(verifier: Verifier, ledger_key: str | None) -> dict[str, Any]:
    ledger = verifier.ledger
    assert isinstance(ledger, BundleLedger)
    outcome = verify_bundle(ledger.bundle, trusted_vkey=ledger_key)
    return {
        "ok": outcome.ok,
        "reason": outcome.reason,
        "key_pinned": ledger_key is not None,
        "anchored": outcome.anchored,
        "index": outcome.index,
        "tree_size": outcome.tree_size,
    }


def _human(body: Mapping[str, Any]) -> str:
    from common.types import Language
    from gateway.web.strings import checklist

    marks = {"ok": "✓", "warn": "!", "fail": "✗", "absent": "–"}
    lines = [
        f"verdict: {body['verdict']}",
        f"  {body['explanation']['en']}",
        f"  {body['explanation']['zh']}",
    ]
    if body.get("generation_id"):
        lines.append(f"generation: {body['generation_id']}")
    lines.extend(
        f"{marks[item.status]} {item.name}: {item.detail}" for item in checklist(Language.EN, body)
    )
    lines.extend(
        f"  #{event['index']} {event['type']} {event['time']} {event['actor']}"
        for event in body.get("custody") or []
    )
    bundle = body.get("offline_bundle")
    if bundle:
        pinned = "pinned key" if bundle["key_pinned"] else "bundle's own key (not pinned)"
        lines.append(
            f"offline bundle: {'ok' if bundle['ok'] else 'FAILED'} — {bundle['reason']} ({pinned})"
        )
    return "\n".join(lines)
