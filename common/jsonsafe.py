"""Guards on JSON bodies, checked before a route's decoder sees the bytes.

CPython's JSON decoder recurses once per nesting level. Libraries we load raise the
interpreter's recursion limit (py_ecc, imported with the embedded EVM, sets 100,000), and
at that limit a body like ``[[[[…]]]]`` overflows the C stack and kills the process
instead of raising ``RecursionError``. Real payloads nest a few levels; refuse the rest::

    check_json_depth(body)            # InvalidInputError when nested deeper than 64
    check_storable_text(body)         # InvalidInputError for a NUL or a lone surrogate
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

from common.errors import InvalidInputError

__all__ = [
    "MAX_JSON_DEPTH",
    "JsonTooDeepError",
    "UnstorableTextError",
    "check_json_depth",
    "check_storable_text",
    "could_nest",
    "json_depth_exceeds",
    "restore_recursion_limit",
]

# Deep enough for every library we load (py_ecc's elliptic-curve code recurses a few
# hundred frames); shallow enough that runaway recursion raises instead of overflowing
# the C stack of a worker thread.
SANE_RECURSION_LIMIT = 10_000

MAX_JSON_DEPTH = 64

# A string (skipped whole, so brackets inside it do not count) or one bracket.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_OPEN = frozenset(b"[{")


# JSON whitespace (RFC 8259 §2), NUL (the other half of a UTF-16/32 code unit, which
# ``json.loads(bytes)`` detects) and the byte-order marks a decoder may skip.
_LEADING_NOISE = b" \t\r\n\x00\xef\xbb\xbf\xfe\xff"


class JsonTooDeepError(InvalidInputError):
    code = "json_too_deep"


def could_nest(data: bytes) -> bool:
    """Whether a JSON decoder handed these bytes could recurse into them.

    A decoder only recurses into a document that opens with ``[`` or ``{``; anything
    else (a PNG's signature, a JPEG's marker, a JSON-seq record separator) fails on its
    first byte. Checking this instead of the declared Content-Type keeps the guard on a
    body whatever type the client claims, without counting brackets inside an image.
    """
    stripped = data.lstrip(_LEADING_NOISE)
    return stripped[:1] in (b"[", b"{")


def json_depth_exceeds(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """True when brackets outside strings nest deeper than ``max_depth``."""
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False  # cannot nest deeper than it has brackets: the common, cheap case
    depth = 0
    for match in _TOKENS.finditer(data):
        first = match.group()[0]
        if first in _OPEN:
            depth += 1
            if depth > max_depth:
                return True
        elif first != 0x22:  # a closing bracket (0x22 is a string's opening quote)
            depth -= 1
    return False


def check_json_depth(data: bytes, max_depth: int = MAX_JSON_DEPTH, what: str = "JSON") -> None:
    if json_depth_exceeds(data, max_depth):
        raise JsonTooDeepError(
            f"{what} nests deeper than {max_depth} levels", details={"max_depth": max_depth}
        )


def restore_recursion_limit(limit: int = SANE_RECURSION_LIMIT) -> None:
    """Lower the interpreter's recursion limit again after a library raised it.

    py_ecc sets 100,000 at import; at that limit a deep structure in any recursive C
    parser crashes the process instead of raising ``RecursionError``. The depth guard
    above stays the first line of defence; this is the second.
    """
    if sys.getrecursionlimit() > limit:
        sys.setrecursionlimit(limit)


class UnstorableTextError(InvalidInputError):
    code = "unstorable_text"


# "\u0000" or the escape of a UTF-16 surrogate half; only such bodies are decoded below.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def check_storable_text(data: bytes | str, what: str = "the JSON body") -> None:
    """Refuse JSON whose strings hold U+0000 or an unpaired surrogate half.

    Both are valid JSON escapes, yet neither is text that can be kept: PostgreSQL's text
    and jsonb types reject NUL, and UTF-8 cannot encode a lone surrogate, so either would
    fail deep inside a request (a 500) rather than at its edge. Bytes that are not JSON
    pass: parsing them is the route's business.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if not _SUSPECT_ESCAPE.search(raw):
        return  # the common case: one regex scan, no decoding
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return
    for text in _strings_of(document):
        reason = _unstorable_reason(text)
        if reason is not None:
            message = f"{what} holds {_REASONS[reason]}"
            raise UnstorableTextError(message, details={"reason": reason})


_REASONS = {
    "nul": "a NUL character (U+0000), which cannot be stored",
    "lone_surrogate": "a lone UTF-16 surrogate, which is not Unicode text",
}


def _unstorable_reason(text: str) -> str | None:
    if "\x00" in text:
        return "nul"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "lone_surrogate"
    return None


def _strings_of(document: Any) -> Iterator[str]:
    # Iterative: the depth guard has run, but a walk must not recurse either way.
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
