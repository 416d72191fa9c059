"""Personal-data scanner (PIPL): numbers that identify a person, checked where a checksum exists.

Categories, one per type: ``pii.cn_resident_id`` (GB 11643 check digit),
``pii.cn_mobile``, ``pii.bank_card`` (Luhn, known issuer prefixes), ``pii.email``,
``pii.ip_address`` (IPv4 and IPv6, validated by ``ipaddress``), ``pii.passport`` (with a
passport keyword nearby). Evidence is masked so that findings can be logged::

    scanner = PersonalDataScanner()
    scanner.scan("电话13812345678")[0].category     # "pii.cn_mobile"
    redact("电话13812345678")                         # "电话[REDACTED:cn_mobile]"
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from moderation.interface import Finding

__all__ = [
    "PersonalDataScanner",
    "is_valid_cn_resident_id",
    "luhn_valid",
    "mask",
    "redact",
]

# GB 11643-1999 check character (ISO 7064:1983 MOD 11-2): weights 2^(17-i) mod 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"

_RESIDENT_ID = re.compile(
    r"(?<![0-9A-Za-z])[1-8]\d{5}(?:18|19|20)\d{2}\d{4}\d{3}[\dXx](?![0-9A-Za-z])"
)
# Mainland numbers: 1[3-9]x xxxx xxxx, optionally +86 and separators (MIIT numbering plan).
_MOBILE = re.compile(r"(?<![\d+])(?:\+?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{4}){2}(?!\d)")
# 13-19 digits, optionally in groups separated by spaces or dashes (ISO/IEC 7812).
_CARD = re.compile(r"(?<![\d-])\d{4}(?:[-\s]?\d{2,4}){2,4}(?:[-\s]?\d{1,3})?(?![\d-])")
_CARD_ISSUER_PREFIX = re.compile(r"62|4|5[1-5]|2[2-7]|3[47]|35|6011|65")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IPV4 = re.compile(r"(?<![A-Za-z0-9_.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])")
# ICAO 9303 document numbers; Chinese passports are E/G + 8 characters. Only counted with
# a passport keyword nearby, since bare letter+digits codes are mostly product codes.
_PASSPORT = re.compile(r"(?<![0-9A-Za-z])[A-Z]{1,2}\d{7,8}(?![0-9A-Za-z])")
_PASSPORT_KEYWORD = re.compile(r"护照|護照|passport|通行证|通行證|旅行证", re.IGNORECASE)
_PASSPORT_KEYWORD_WINDOW = 20


@dataclass(frozen=True, slots=True)
class _Detector:
    category: str
    pattern: re.Pattern[str]
    score: float
    accept: Callable[[str, str, int], bool]  # (match text, whole text, match start)
    # A cheap test on the whole text that must hold for any match (skips the regex).
    may_match: Callable[[str], bool] = lambda text: True


def is_valid_cn_resident_id(number: str) -> bool:
    """GB 11643-1999: 18 characters, a real birth date, and the ISO 7064 MOD 11-2 check."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    if not _is_real_date(number[6:14]):
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number, _ID_WEIGHTS, strict=False))
    return _ID_CHECK_CHARS[total % 11] == number[17].upper()


def luhn_valid(digits: str) -> bool:
    """ISO/IEC 7812-1 Annex B: the Luhn mod-10 check over a string of digits."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def mask(value: str) -> str:
    """Keep enough to recognise the value, hide the rest: ``138****5678``."""
    if len(value) <= 6:
        return "*" * len(value)
    keep_start, keep_end = (3, 4) if len(value) >= 11 else (2, 2)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


def redact(text: str, findings: Sequence[Finding] | None = None) -> str:
    """The text with every personal-data span replaced by ``[REDACTED:<type>]``."""
    found = PersonalDataScanner().scan(text) if findings is None else findings
    pieces: list[str] = []
    cursor = 0
    for finding in sorted(found, key=lambda f: f.span or (0, 0)):
        if finding.span is None or finding.span[0] < cursor:
            continue
        start, end = finding.span
        kind = finding.category.removeprefix("pii.")
        pieces.extend([text[cursor:start], f"[REDACTED:{kind}]"])
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


class PersonalDataScanner:
    """The ``pii`` scanner: exact detectors, most specific first, spans never overlap."""

    name = "pii"
    version = "2026.11.1"  # the detectors below; bump when they change

    def __init__(self) -> None:
        self._detectors = (
            _Detector("pii.cn_resident_id", _RESIDENT_ID, 0.99, _resident_id_ok),
            _Detector("pii.bank_card", _CARD, 0.95, _card_ok),
            _Detector("pii.cn_mobile", _MOBILE, 0.9, _always),
            _Detector("pii.email", _EMAIL, 0.9, _always, lambda text: "@" in text),
            _Detector(
                "pii.passport",
                _PASSPORT,
                0.85,
                _passport_context,
                lambda text: _PASSPORT_KEYWORD.search(text) is not None,
            ),
            _Detector("pii.ip_address", _IPV4, 0.7, _ip_ok, lambda text: text.count(".") >= 3),
            _Detector("pii.ip_address", _IPV6, 0.7, _ipv6_ok, lambda text: text.count(":") >= 2),
        )

    def scan(self, text: str) -> list[Finding]:
        findings: list[Finding] = []
        taken: list[tuple[int, int]] = []
        for detector in self._detectors:
            if not detector.may_match(text):
                continue
            for match in detector.pattern.finditer(text):
                span = match.span()
                if _overlaps(span, taken) or not detector.accept(match.group(), text, span[0]):
                    continue
                taken.append(span)
                findings.append(_finding(detector, match.group(), span))
        return sorted(findings, key=lambda finding: finding.span or (0, 0))

    def scan_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        return [self.scan(text) for text in texts]


def _finding(detector: _Detector, value: str, span: tuple[int, int]) -> Finding:
    return Finding(
        scanner="pii",
        category=detector.category,
        score=detector.score,
        span=span,
        evidence=mask(value),
    )


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(start < span[1] and span[0] < end for start, end in taken)


def _is_real_date(yyyymmdd: str) -> bool:
    try:
        dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return False
    return True


def _always(value: str, text: str, start: int) -> bool:
    return True


def _resident_id_ok(value: str, text: str, start: int) -> bool:
    return is_valid_cn_resident_id(value)


def _card_ok(value: str, text: str, start: int) -> bool:
    digits = re.sub(r"[-\s]", "", value)
    return (
        13 <= len(digits) <= 19
        and _CARD_ISSUER_PREFIX.match(digits) is not None
        and luhn_valid(digits)
    )


def _passport_context(value: str, text: str, start: int) -> bool:
    window = text[max(0, start - _PASSPORT_KEYWORD_WINDOW) : start + len(value) + 8]
    return _PASSPORT_KEYWORD.search(window) is not None


def _ip_ok(value: str, text: str, start: int) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def _ipv6_ok(value: str, text: str, start: int) -> bool:
    if value.count(":") < 2 or len(value) < 6:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True
