"""Names for finding categories, so a Chinese reviewer does not read English codes.

    category_name("ad_law.absolute_term", Language.ZH)   # "广告法 · 绝对化用语"
    category_name("pii.new_kind", Language.ZH)           # "个人信息 · new_kind"

A category is ``family.kind``; each part is named if it is known, else shown as it is.
"""

from __future__ import annotations

from common.types import Language

__all__ = ["category_name"]

_EN, _ZH = Language.EN, Language.ZH
_NAMES: dict[str, dict[Language, str]] = {
    "ad_law": {_EN: "Advertising law", _ZH: "广告法"},
    "absolute_term": {_EN: "absolute term", _ZH: "绝对化用语"},
    "medical_claim": {_EN: "medical claim", _ZH: "医疗功效宣称"},
    "guaranteed_return": {_EN: "guaranteed return", _ZH: "保证收益"},
    "state_endorsement": {_EN: "state endorsement", _ZH: "国家机关背书"},
    "false_claim": {_EN: "false claim", _ZH: "虚假宣传"},
    "pii": {_EN: "Personal data", _ZH: "个人信息"},
    "cn_mobile": {_EN: "mobile number", _ZH: "手机号码"},
    "cn_resident_id": {_EN: "resident ID", _ZH: "居民身份证号"},
    "bank_card": {_EN: "bank card", _ZH: "银行卡号"},
    "passport": {_EN: "passport", _ZH: "护照号"},
    "email": {_EN: "email", _ZH: "电子邮箱"},
    "ip_address": {_EN: "IP address", _ZH: "IP 地址"},
    "sensitive_health": {_EN: "health (sensitive)", _ZH: "健康信息（敏感）"},
    "sensitive_financial": {_EN: "financial (sensitive)", _ZH: "财务信息（敏感）"},
    "sensitive_biometric": {_EN: "biometric (sensitive)", _ZH: "生物识别信息（敏感）"},
    "sensitive_identity": {_EN: "identity (sensitive)", _ZH: "身份信息（敏感）"},
    "sensitive_whereabouts": {_EN: "whereabouts (sensitive)", _ZH: "行踪信息（敏感）"},
    "bias": {_EN: "Bias", _ZH: "歧视偏见"},
    "age": {_EN: "age", _ZH: "年龄"},
    "gender": {_EN: "gender", _ZH: "性别"},
    "region": {_EN: "region", _ZH: "地域"},
    "ethnicity": {_EN: "ethnicity", _ZH: "民族"},
    "country": {_EN: "country", _ZH: "国别"},
    "belief": {_EN: "belief", _ZH: "信仰"},
    "health": {_EN: "health", _ZH: "健康状况"},
    "occupation": {_EN: "occupation", _ZH: "职业"},
    "brand": {_EN: "Brand rules", _ZH: "品牌规则"},
    "competitor": {_EN: "competitor", _ZH: "竞品"},
    "banned_term": {_EN: "banned term", _ZH: "禁用词"},
    "image_match": {_EN: "Image match", _ZH: "图片比对"},
    "banned": {_EN: "banned", _ZH: "禁用图片"},
    "protected": {_EN: "protected", _ZH: "受保护图片"},
    "toxicity": {_EN: "Toxicity", _ZH: "有害言论"},
    "severe_toxicity": {_EN: "Severe toxicity", _ZH: "严重有害言论"},
    "insult": {_EN: "Insult", _ZH: "侮辱"},
    "threat": {_EN: "Threat", _ZH: "威胁"},
    "obscene": {_EN: "Obscene", _ZH: "淫秽粗俗"},
    "identity_attack": {_EN: "Identity attack", _ZH: "身份攻击"},
    "sexual_explicit": {_EN: "Sexually explicit", _ZH: "色情露骨"},
    "profanity": {_EN: "Profanity", _ZH: "脏话"},
}


def category_name(category: str, lang: Language) -> str:
    """Each dotted part named in ``lang`` where known, joined by " · "."""
    return " · ".join(_NAMES.get(part, {}).get(lang, part) for part in category.split("."))
