"""Provenance verification: every signal of a file or text, composed into one verdict.

The readers live in ``provenance`` (``provenance.readback``: C2PA, GB 45438 labels,
watermarks) and the proof verifier in ``ledger``; this package only asks them and
decides. What it needs from the rest of the gateway is small and named by ``Protocol``s
(``interface``), so the verifier runs the same against the live runtime, an offline proof
bundle (the CLI) or test fakes::

    verifier = Verifier(ProvenanceSignalReaders(anchors, watermarker), ledger, catalog)
    report = verifier.verify_file(data, "image/png")
    report.verdict                               # Verdict.VERIFIED
    report.to_dict()["ledger"]["inclusion_proof"]
    verifier.verify_text("新品上市\\n【AI生成】").verdict

The gateway builds its own with ``build_verifier(...)`` (``gateway.wiring``). Modules:
``verdict`` (signals → verdict → zh/en explanation, pure), ``report`` (the report and its
JSON body), ``verifier`` (the composition), ``readers`` (``provenance.readback`` bound to
our keys), ``catalog`` (the released artifacts in SQL), ``interface`` (the protocols).

Verdicts (a closed set; ``docs/verification.md`` explains each):

- ``verified``: our trusted manifest, the content matches it, the ledger proof checks.
- ``verified_via_watermark``: no manifest in the file, our watermark recovered the
  ledger record; the original manifest comes back marked ``recovered`` (soft binding,
  never a hard-binding match).
- ``tampered``: a manifest or label is present but fails validation, or claims our
  provenance without a matching, provable ledger record.
- ``foreign_provenance``: a well-formed or valid C2PA manifest from another signer.
- ``labeled_only``: a GB 45438 label (implicit or visible) with nothing verifiable behind it.
- ``unknown``: no provenance signal at all.
"""

from __future__ import annotations

from gateway.verification.catalog import SqlArtifactCatalog
from gateway.verification.interface import (
    AnchorCheck,
    ArtifactCatalog,
    LedgerReader,
    ManifestNotFoundError,
    SignalReaders,
    SoftBindingMatch,
    StoredArtifact,
    TextWatermarkDetector,
    TextWatermarkReading,
    UnsupportedSoftBindingError,
)
from gateway.verification.readers import GreenListTextDetector, ProvenanceSignalReaders
from gateway.verification.report import (
    C2paSection,
    CustodyEvent,
    LedgerSection,
    VerificationReport,
    VerificationReportPublic,
    WatermarkSection,
)
from gateway.verification.verdict import (
    Decision,
    Explanation,
    Reason,
    Signals,
    Verdict,
    decide,
    explain,
)
from gateway.verification.verifier import (
    Verifier,
    anchor_check,
    build_verifier,
    custody_of,
    parse_watermark_id,
    watermark_id_text,
)
from provenance.manifest import SOFT_BINDING_ALG

__all__ = [
    "SOFT_BINDING_ALG",
    "AnchorCheck",
    "ArtifactCatalog",
    "C2paSection",
    "CustodyEvent",
    "Decision",
    "Explanation",
    "GreenListTextDetector",
    "LedgerReader",
    "LedgerSection",
    "ManifestNotFoundError",
    "ProvenanceSignalReaders",
    "Reason",
    "SignalReaders",
    "Signals",
    "SoftBindingMatch",
    "SqlArtifactCatalog",
    "StoredArtifact",
    "TextWatermarkDetector",
    "TextWatermarkReading",
    "UnsupportedSoftBindingError",
    "Verdict",
    "VerificationReport",
    "VerificationReportPublic",
    "Verifier",
    "WatermarkSection",
    "anchor_check",
    "build_verifier",
    "custody_of",
    "decide",
    "explain",
    "parse_watermark_id",
    "watermark_id_text",
]
