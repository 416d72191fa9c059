"""A guard against deeply nested JSON, checked before ``json.loads`` sees the bytes.

CPython's JSON decoder recurses once per nesting level. Libraries we load raise the
interpreter's recursion limit (py_ecc, imported with the embedded EVM, sets 100,000), and
at that limit a body like ``[[[[…]]]]`` overflows the C stack and kills the process
instead of raising ``RecursionError``. Real payloads nest a few levels; refuse the rest::

    check_json_depth(body)            # InvalidInputError when nested deeper than 64
"""

from __future__ import annotations

import re
import sys

from common.errors import InvalidInputError

__all__ = [
    "MAX_JSON_DEPTH",
    "JsonTooDeepError",
    "check_json_depth",
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
