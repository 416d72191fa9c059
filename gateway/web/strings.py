"""Chinese and English strings of the ``/verify`` page, and what the template shows.

The page renders a verification report (``VerificationReport.to_dict()``) as a verdict
banner, a checklist of signals, the manifest summary and the chain-of-custody timeline::

    language = pick_language("en", request.headers.get("accept-language"))
    context = page_context(language, report.to_dict(), error=None)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.errors import GatewayError
from common.types import Language

__all__ = ["STRINGS", "CheckItem", "page_context"]


STRINGS: dict[str, dict[Language, str]] = {
    "title": {Language.ZH: "内容来源验证", Language.EN: "Content provenance check"},
    "intro": {
        Language.ZH: "上传文件或粘贴文本，检查 C2PA 清单、GB 45438 标识、隐形水印和账本记录。"
        "文件只用于本次验证，不会被保存。",
        Language.EN: "Upload a file or paste text to check its C2PA manifest, GB 45438 labels, "
        "invisible watermark and ledger record. Files are used for this check only and "
        "never stored.",
    },
    "drop": {
        Language.ZH: "将文件拖放到这里，或点击选择文件",
        Language.EN: "Drop a file here, or click to choose one",
    },
    "or_text": {Language.ZH: "或粘贴文本", Language.EN: "or paste text"},
    "submit": {Language.ZH: "验证", Language.EN: "Verify"},
    "verdict": {Language.ZH: "结论", Language.EN: "Verdict"},
    "generation": {Language.ZH: "生成记录", Language.EN: "Generation"},
    "signals": {Language.ZH: "信号检查", Language.EN: "Signals"},
    "manifest": {Language.ZH: "清单摘要", Language.EN: "Manifest summary"},
    "custody": {Language.ZH: "监管链", Language.EN: "Chain of custody"},
    "no_custody": {Language.ZH: "没有账本事件。", Language.EN: "No ledger events."},
    "error": {Language.ZH: "无法验证", Language.EN: "Cannot verify"},
    "c2pa": {Language.ZH: "C2PA 清单", Language.EN: "C2PA manifest"},
    "implicit": {Language.ZH: "隐式标识（GB 45438）", Language.EN: "Implicit label (GB 45438)"},
    "explicit": {Language.ZH: "显式标识", Language.EN: "Visible label"},
    "watermark": {Language.ZH: "隐形水印", Language.EN: "Invisible watermark"},
    "ledger": {Language.ZH: "账本记录与包含证明", Language.EN: "Ledger record and proof"},
    "absent": {Language.ZH: "未发现", Language.EN: "not found"},
    "not_checked": {Language.ZH: "未检查", Language.EN: "not checked"},
    "recovered": {
        Language.ZH: "通过水印找回（软绑定）",
        Language.EN: "recovered through the watermark (soft binding)",
    },
    "best_effort": {Language.ZH: "（尽力检测）", Language.EN: "(best effort)"},
    "proof_ok": {Language.ZH: "包含证明已验证", Language.EN: "inclusion proof verified"},
    "proof_bad": {Language.ZH: "包含证明未通过", Language.EN: "inclusion proof failed"},
    "anchored": {Language.ZH: "已锚定到链上", Language.EN: "anchored on chain"},
    "generator": {Language.ZH: "生成器", Language.EN: "Generator"},
    "source_type": {Language.ZH: "来源类型", Language.EN: "Source type"},
    "moderation": {Language.ZH: "审核策略", Language.EN: "Moderation"},
    "review": {Language.ZH: "人工审核", Language.EN: "Human review"},
    "not_reviewed": {Language.ZH: "无需人工审核", Language.EN: "not needed"},
    "signed_by": {Language.ZH: "签发者", Language.EN: "Signed by"},
    "label_fields": {Language.ZH: "标识字段", Language.EN: "Label fields"},
    "other_language": {Language.ZH: "English", Language.EN: "中文"},
}

VERDICT_TITLES: dict[str, dict[Language, str]] = {
    "verified": {Language.ZH: "已验证", Language.EN: "Verified"},
    "verified_via_watermark": {
        Language.ZH: "已通过水印验证",
        Language.EN: "Verified via watermark",
    },
    "tampered": {Language.ZH: "已被篡改", Language.EN: "Tampered"},
    "foreign_provenance": {Language.ZH: "其他来源", Language.EN: "Foreign provenance"},
    "labeled_only": {Language.ZH: "仅有标识", Language.EN: "Labelled only"},
    "unknown": {Language.ZH: "未知", Language.EN: "Unknown"},
}


@dataclass(frozen=True, slots=True)
class CheckItem:
    name: str
    status: str  # "ok" | "fail" | "warn" | "absent"
    detail: str


def page_context(
    language: Language, report: Mapping[str, Any] | None, error: GatewayError | None
) -> dict[str, Any]:
    strings = {key: value[language] for key, value in STRINGS.items()}
    other = Language.EN if language is Language.ZH else Language.ZH
    context: dict[str, Any] = {
        "lang": language.value,
        "other_lang": other.value,
        "t": strings,
        "report": None,
        "error": None,
    }
    if error is not None:
        context["error"] = {"code": error.code, "message": error.message}
    if report is not None:
        context["report"] = _report_view(language, strings, report)
    return context


def _report_view(
    language: Language, t: Mapping[str, str], report: Mapping[str, Any]
) -> dict[str, Any]:
    verdict = str(report["verdict"])
    return {
        "verdict": verdict,
        "verdict_title": VERDICT_TITLES[verdict][language],
        "explanation": report["explanation"][language.value],
        "generation_id": report.get("generation_id"),
        "checks": checklist(language, report),
        "manifest": _manifest_rows(t, report["c2pa"]),
        "label_fields": sorted((report["implicit_label"].get("fields") or {}).items()),
        "custody": report.get("custody") or [],
        "sha256": report.get("sha256"),
    }


def checklist(language: Language, report: Mapping[str, Any]) -> list[CheckItem]:
    """One line per signal of a report (``VerificationReport.to_dict()``)."""
    t = {key: value[language] for key, value in STRINGS.items()}
    return [
        _c2pa_check(t, report["c2pa"]),
        _implicit_check(t, report["implicit_label"]),
        _explicit_check(t, report["explicit_label"]),
        _watermark_check(t, report["watermark"]),
        _ledger_check(t, report["ledger"]),
    ]


def _c2pa_check(t: Mapping[str, str], c2pa: Mapping[str, Any]) -> CheckItem:
    codes = ", ".join(c2pa.get("validation_status") or [])
    state = str(c2pa["state"])
    if c2pa.get("recovered"):
        return CheckItem(t["c2pa"], "warn", f"{t['recovered']}: {state}")
    if state == "absent":
        return CheckItem(t["c2pa"], "absent", t["absent"])
    status = {"trusted": "ok", "valid": "warn", "well_formed": "warn"}.get(state, "fail")
    return CheckItem(t["c2pa"], status, f"{state} — {codes}" if codes else state)


def _implicit_check(t: Mapping[str, str], label: Mapping[str, Any]) -> CheckItem:
    if not label.get("checked"):
        return CheckItem(t["implicit"], "absent", t["not_checked"])
    if not label.get("found"):
        return CheckItem(t["implicit"], "absent", t["absent"])
    integrity = label.get("reserved_code_ok")
    parts = [
        f"ReservedCode1: {'✓' if integrity else ('✗' if integrity is False else '—')}",
        f"charset: {'✓' if label.get('charset_ok') else '✗'}",
        f"count: {label.get('count')}",
    ]
    ok = integrity is not False and label.get("charset_ok") and label.get("single_label")
    return CheckItem(t["implicit"], "ok" if ok else "fail", ", ".join(parts))


def _explicit_check(t: Mapping[str, str], label: Mapping[str, Any]) -> CheckItem:
    if not label.get("checked"):
        return CheckItem(t["explicit"], "absent", t["not_checked"])
    note = f" {t['best_effort']}" if label.get("best_effort") else ""
    status = "ok" if label.get("found") else "absent"
    return CheckItem(t["explicit"], status, f"{label.get('detail', '')}{note}")


def _watermark_check(t: Mapping[str, str], mark: Mapping[str, Any]) -> CheckItem:
    if not mark.get("checked"):
        return CheckItem(t["watermark"], "absent", t["not_checked"])
    if mark.get("watermark_id"):
        return CheckItem(t["watermark"], "ok", f"id {mark['watermark_id']}")
    if mark.get("present") and mark.get("z_score") is not None:
        return CheckItem(t["watermark"], "ok", f"z = {mark['z_score']}")
    return CheckItem(t["watermark"], "absent", str(mark.get("detail") or t["absent"]))


def _ledger_check(t: Mapping[str, str], ledger: Mapping[str, Any]) -> CheckItem:
    if not ledger.get("found"):
        return CheckItem(t["ledger"], "absent", t["absent"])
    proof = t["proof_ok"] if ledger.get("proof_ok") else t["proof_bad"]
    # Anchored only when the chain confirms it now: a stored receipt of a chain that is
    # gone (an embedded one, after a restart) proves nothing to the reader.
    anchored = f", {t['anchored']}" if ledger.get("anchor_status") == "confirmed" else ""
    detail = f"#{ledger.get('index')} ({ledger.get('matched_by')}): {proof}{anchored}"
    return CheckItem(t["ledger"], "ok" if ledger.get("proof_ok") else "fail", detail)


def _manifest_rows(t: Mapping[str, str], c2pa: Mapping[str, Any]) -> list[tuple[str, str]]:
    manifest = c2pa.get("manifest") or {}
    if not manifest:
        return []
    rows: list[tuple[str, str]] = []
    generators = manifest.get("claim_generator") or []
    if generators:
        rows.append((t["generator"], _names(generators)))
    signature = manifest.get("signature") or {}
    if signature.get("issuer"):
        rows.append((t["signed_by"], str(signature["issuer"])))
    rows.extend(
        (t["source_type"], str(action["digitalSourceType"]).rsplit("/", 1)[-1])
        for action in manifest.get("actions") or []
        if action.get("digitalSourceType")
    )
    ours = manifest.get("assertions") or {}
    moderation = ours.get("org.aigc-gateway.moderation")
    if moderation:
        rows.append(
            (
                t["moderation"],
                f"{moderation.get('decision')} · {moderation.get('policy')} "
                f"{moderation.get('policy_version')}",
            )
        )
    review = ours.get("org.aigc-gateway.review")
    if review:
        decision = review.get("decision") if review.get("reviewed") else None
        rows.append((t["review"], str(decision or t["not_reviewed"])))
    return rows


def _names(generators: Any) -> str:
    items = generators if isinstance(generators, list) else [generators]
    return ", ".join(
        f"{g.get('name', '')} {g.get('version', '')}".strip() for g in items if isinstance(g, dict)
    )
