"""YAML loading that remembers line numbers, so a malformed file fails naming its line.

data = load_yaml(path)                 # mappings are ``LineDict``s
data.line_of("rules")                  # 1-based line of the key ``rules``
raise_at(path, data.line_of("rules"), "must be a list")   # PolicyError "path:12: ..."
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import yaml

from moderation.interface import PolicyError

__all__ = ["LineDict", "LineList", "load_yaml", "raise_at", "with_lines"]


class LineDict(dict[str, Any]):
    """A mapping from YAML that knows its own line and the line of each key."""

    line: int = 0
    key_lines: dict[str, int] = {}  # noqa: RUF012 - replaced per instance by the loader

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A sequence from YAML that knows the line of each item."""

    item_lines: list[int] = []  # noqa: RUF012 - replaced per instance by the loader


def with_lines(items: list[Any], fallback: int) -> list[tuple[Any, int]]:
    """Each item with its 1-based line (``fallback`` for lists not read from YAML)."""
    lines = items.item_lines if isinstance(items, LineList) else []
    return [(item, lines[i] if i < len(lines) else fallback) for i, item in enumerate(items)]


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = LineDict(
            (str(key), value) for key, value in super().construct_mapping(node, deep=True).items()
        )
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {
            str(key_node.value): key_node.start_mark.line + 1 for key_node, _ in node.value
        }
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> list[Any]:
        sequence = LineList(super().construct_sequence(node, deep=True))
        sequence.item_lines = [item.start_mark.line + 1 for item in node.value]
        return sequence


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _LineLoader.construct_mapping,
)
_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
    _LineLoader.construct_sequence,
)


def load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot be read: {exc}") from exc
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise PolicyError(f"{path}:{line}: malformed YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: malformed YAML: {exc}") from exc


def raise_at(path: Path, line: int, message: str) -> NoReturn:
    raise PolicyError(f"{path}:{line}: {message}", details={"file": path.name, "line": line})
