"""A guard against deeply nested JSON, checked before ``json.loads`` sees the bytes.

CPython's JSON decoder recurses once per nesting level. Libraries we load raise the
interpreter's recursion limit (py_ecc, imported with the embedded EVM, sets 100,000), and
at that limit a body like ``[[[[…]]]]`` overflows the C stack and kills the process
instead of raising ``RecursionError``. Real payloads nest a few levels; refuse the rest::

    check_json_depth(body)            # InvalidInputError when nested deeper than 64
"""

from __future__ import annotations

import re

from common.errors import InvalidInputError

__all__ = ["MAX_JSON_DEPTH", "JsonTooDeepError", "check_json_depth", "json_depth_exceeds"]

MAX_JSON_DEPTH = 64

# A string (skipped whole, so brackets inside it do not count) or one bracket.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_OPEN = frozenset(b"[{")


class JsonTooDeepError(InvalidInputError):
    code = "json_too_deep"


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
