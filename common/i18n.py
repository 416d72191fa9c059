"""Which of our two languages a reader gets: one rule for every page and response.

pick_language(None, "zh-CN,zh;q=0.9,en;q=0.8")   # Language.ZH
pick_language("en", "zh-CN")                      # Language.EN: an explicit choice wins
pick_language(None, "fr-FR")                      # Language.ZH: the default
"""

from __future__ import annotations

from common.types import Language

__all__ = ["DEFAULT_LANGUAGE", "pick_language"]

# Labels, policies and most readers are Chinese (GB 45438 is the labelling standard).
DEFAULT_LANGUAGE = Language.ZH


def pick_language(explicit: str | None, accept_language: str | None) -> Language:
    """An explicit choice (query parameter, the toggle's cookie) wins; else the best of
    zh/en in Accept-Language by q-value (RFC 9110 §12.5.4); else ``DEFAULT_LANGUAGE``."""
    if explicit in (Language.ZH.value, Language.EN.value):
        return Language(explicit)
    best: tuple[float, Language] | None = None
    for item in (accept_language or "").split(","):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in (Language.ZH.value, Language.EN.value):
            continue
        quality = _quality(params)
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, Language(primary))
    return best[1] if best else DEFAULT_LANGUAGE


def _quality(params: str) -> float:
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0
