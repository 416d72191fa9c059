"""The verdict: what the signals of one file or text add up to, explained in zh and en.

Pure: the readers and the ledger have already spoken (``Signals``); this module only
ranks them. A failed check outranks any positive signal, and the first rule that applies
wins (``docs/verification.md`` tabulates the rules)::

    verdict, reason = decide(Signals(C2paState.ABSENT, False, False, True, None, False))
    verdict                                  # Verdict.LABELED_ONLY
    explain(reason, signals).en              # "The content carries an AI-generated label, …"
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from provenance.interface import C2paState

__all__ = ["Decision", "Explanation", "Reason", "Signals", "Verdict", "decide", "explain"]


class Verdict(StrEnum):
    VERIFIED = "verified"
    VERIFIED_VIA_WATERMARK = "verified_via_watermark"
    TAMPERED = "tampered"
    FOREIGN_PROVENANCE = "foreign_provenance"
    LABELED_ONLY = "labeled_only"
    UNKNOWN = "unknown"


class Reason(StrEnum):
    """Why a verdict was reached (the report's ``reason``)."""

    MANIFEST_VERIFIED = "manifest_verified"
    WATERMARK_RECOVERED = "watermark_recovered"
    C2PA_INVALID = "c2pa_invalid"
    LABEL_MISMATCH = "label_mismatch"
    LEDGER_MISMATCH = "ledger_mismatch"
    FOREIGN_SIGNER = "foreign_signer"
    LABEL_WITHOUT_BACKING = "label_without_backing"
    NO_SIGNAL = "no_signal"


@dataclass(frozen=True, slots=True)
class Explanation:
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class Signals:
    """What the readers and lookups found; the input of the pure ``decide`` function."""

    c2pa_state: C2paState
    c2pa_claims_ours: bool  # the active manifest carries our ledger assertion
    record_proven: bool  # a ledger stamp record for this exact content, proof verified
    label_found: bool  # implicit or explicit AI-generated label
    label_integrity_ok: bool | None  # ReservedCode1 against the content; None: not ours
    watermark_record_proven: bool  # watermark id → ledger stamp record, proof verified
    watermark_unmatched: bool = False  # decoded, but no ledger record carries that id
    text_watermark_detected: bool = False


class Decision(NamedTuple):
    verdict: Verdict
    reason: Reason


# One sentence per reason, in both languages.
_REASONS: dict[Reason, Explanation] = {
    Reason.MANIFEST_VERIFIED: Explanation(
        "文件内嵌的 C2PA 清单由本网关签发且受信任，内容与清单一致，账本包含证明已通过验证。",
        "The file carries a C2PA manifest signed by this gateway and trusted; the content "
        "matches it and the ledger inclusion proof verifies.",
    ),
    Reason.WATERMARK_RECOVERED: Explanation(
        "文件中没有可用的元数据，但隐形水印找回了本网关的账本记录；返回的原始清单是通过水印"
        "（软绑定）找回的，并非与文件逐字节匹配。",
        "The file has no usable metadata, but the invisible watermark led to this gateway's "
        "ledger record; the original manifest was recovered through the watermark (soft "
        "binding), not matched byte for byte.",
    ),
    Reason.C2PA_INVALID: Explanation(
        "文件带有 C2PA 清单，但验证失败：内容或清单在签名后被改动。",
        "The file carries a C2PA manifest that fails validation: the content or the manifest "
        "was changed after signing.",
    ),
    Reason.LABEL_MISMATCH: Explanation(
        "文件带有 GB 45438 隐式标识，但其完整性校验码与内容不符：内容在标识后被改动。",
        "The file carries a GB 45438 implicit label whose integrity code no longer matches "
        "the content: the content was changed after labelling.",
    ),
    Reason.LEDGER_MISMATCH: Explanation(
        "清单声称来自本网关，但账本中没有可证明的对应记录。",
        "The manifest claims this gateway's provenance, but the ledger holds no provable "
        "record for it.",
    ),
    Reason.FOREIGN_SIGNER: Explanation(
        "文件带有结构完整的 C2PA 清单，但签发者不是本网关。",
        "The file carries a well-formed C2PA manifest from another signer, not this gateway.",
    ),
    Reason.LABEL_WITHOUT_BACKING: Explanation(
        "文件带有人工智能生成标识，但没有可验证的签名、水印或账本记录支撑。",
        "The content carries an AI-generated label, but no signature, watermark or ledger "
        "record backs it.",
    ),
    Reason.NO_SIGNAL: Explanation(
        "未发现任何来源信号：没有 C2PA 清单、标识、水印或账本记录。",
        "No provenance signal was found: no C2PA manifest, label, watermark or ledger record.",
    ),
}

_WATERMARK_WITHOUT_RECORD = Explanation(
    "另检测到本网关格式的水印，但账本中没有对应记录。",
    "A watermark in this gateway's format was also decoded, but the ledger has no record for it.",
)
_TEXT_WATERMARK_HINT = Explanation(
    "文本的统计水印表明它很可能由本网关的模型生成（无法据此确定具体记录）。",
    "The text's statistical watermark suggests this gateway's model wrote it (it cannot "
    "identify the record).",
)
_SIGNED = (C2paState.TRUSTED, C2paState.VALID, C2paState.WELL_FORMED)


def decide(signals: Signals) -> Decision:
    """The verdict and its reason; a failed check outranks any positive signal."""
    state = signals.c2pa_state
    if state is C2paState.INVALID:
        return Decision(Verdict.TAMPERED, Reason.C2PA_INVALID)
    if state is C2paState.TRUSTED and signals.c2pa_claims_ours:
        if signals.record_proven:
            return Decision(Verdict.VERIFIED, Reason.MANIFEST_VERIFIED)
        return Decision(Verdict.TAMPERED, Reason.LEDGER_MISMATCH)
    if state in _SIGNED:
        return Decision(Verdict.FOREIGN_PROVENANCE, Reason.FOREIGN_SIGNER)
    if signals.label_integrity_ok is False:
        return Decision(Verdict.TAMPERED, Reason.LABEL_MISMATCH)
    if signals.watermark_record_proven:
        return Decision(Verdict.VERIFIED_VIA_WATERMARK, Reason.WATERMARK_RECOVERED)
    if signals.label_found:
        return Decision(Verdict.LABELED_ONLY, Reason.LABEL_WITHOUT_BACKING)
    return Decision(Verdict.UNKNOWN, Reason.NO_SIGNAL)


def explain(reason: Reason, signals: Signals) -> Explanation:
    """The reason's sentence, then what the signals add without changing the verdict."""
    base = _REASONS[reason]
    extras: list[Explanation] = []
    if signals.watermark_unmatched:
        extras.append(_WATERMARK_WITHOUT_RECORD)
    if signals.text_watermark_detected:
        extras.append(_TEXT_WATERMARK_HINT)
    return Explanation(
        "".join([base.zh, *(e.zh for e in extras)]),
        " ".join([base.en, *(e.en for e in extras)]),
    )
