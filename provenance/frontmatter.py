"""The GB 45438 label in Markdown YAML front matter (``AIGC:`` key).

The label JSON is written as a single-quoted YAML scalar so that the exact compact text
survives; an existing front-matter block gets the key as its first line::

    md = add_aigc_front_matter("# 新品\\n", label_json)
    labels, body = read_aigc_front_matter(md)   # ([label_json], "# 新品\\n")
"""

from __future__ import annotations

import json
import re

__all__ = [
    "add_aigc_front_matter",
    "join_front_matter",
    "read_aigc_front_matter",
    "split_front_matter",
]

_FENCE = "---"
_AIGC_LINE = re.compile(r"^AIGC:[ \t]*(.+?)[ \t\r]*$")


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(YAML block without fences, body) — or (None, text) when there is no block."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip("\r") != _FENCE:
        return None, text
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r") in (_FENCE, "..."):
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :])
    return None, text


def join_front_matter(block: str | None, body: str) -> str:
    """The inverse of :func:`split_front_matter`."""
    if block is None:
        return body
    kept = f"{block}\n" if block else ""
    return f"{_FENCE}\n{kept}{_FENCE}\n{body}"


def add_aigc_front_matter(text: str, label_json: str) -> str:
    line = "AIGC: '" + label_json.replace("'", "''") + "'"
    block, body = split_front_matter(text)
    return join_front_matter(line if not block else f"{line}\n{block}", body)


def read_aigc_front_matter(text: str) -> tuple[list[str], str]:
    """The AIGC label texts in the front matter (compact JSON) and the body after it.

    Only top-level ``AIGC:`` lines are read, without a YAML parser: uploads reach this
    through the public verify endpoint, and YAML aliases can expand without bound.
    """
    block, body = split_front_matter(text)
    if block is None:
        return [], text
    labels = [
        _scalar(match.group(1))
        for match in map(_AIGC_LINE.match, block.split("\n"))
        if match is not None
    ]
    return [label for label in labels if label], body


def _scalar(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")  # YAML 1.2 §7.3.2 single-quoted style
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            decoded = json.loads(value)  # JSON strings are valid YAML double-quoted scalars
        except json.JSONDecodeError:
            return ""
        return decoded if isinstance(decoded, str) else ""
    return value
