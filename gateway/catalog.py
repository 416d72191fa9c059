"""The configured generators, built lazily, with a default per content kind.

catalog = GeneratorCatalog({"tiny-text": make_text}, {ContentKind.TEXT: "tiny-text"})
generator = catalog.get(ContentKind.TEXT, None)      # the default
catalog.get(ContentKind.TEXT, "nope")               # InvalidInputError listing the names
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from common.types import ContentKind
from generators.interface import Generator, UnknownGeneratorError

__all__ = ["GeneratorCatalog"]


class GeneratorCatalog:
    def __init__(
        self,
        factories: Mapping[str, Callable[[], Generator]],
        defaults: Mapping[ContentKind, str],
        kinds: Mapping[str, ContentKind],
    ) -> None:
        self._factories = dict(factories)
        self._defaults = dict(defaults)
        self._kinds = dict(kinds)
        self._built: dict[str, Generator] = {}
        self._lock = threading.Lock()

    def names(self, kind: ContentKind | None = None) -> list[str]:
        return sorted(n for n, k in self._kinds.items() if kind is None or k is kind)

    def kind_of(self, name: str) -> ContentKind | None:
        return self._kinds.get(name)

    def resolve(self, kind: ContentKind, name: str | None) -> str:
        """The configured name ``name`` stands for (the kind's default when ``None``)."""
        chosen = name or self._defaults.get(kind)
        if chosen is None or self._kinds.get(chosen) is not kind:
            known = ", ".join(self.names(kind)) or "none"
            raise UnknownGeneratorError(
                f"unknown {kind.value} generator {name!r}; configured: {known}",
                details={"generator": name, "known": self.names(kind)},
            )
        return chosen

    def get(self, kind: ContentKind, name: str | None) -> Generator:
        """The named generator, or the kind's default when ``name`` is ``None``."""
        return self._build(self.resolve(kind, name))

    def _build(self, name: str) -> Generator:
        with self._lock:
            if name not in self._built:
                self._built[name] = self._factories[name]()
            return self._built[name]

    def readiness_problems(self) -> list[str]:
        """What keeps each kind's default generator from serving, in sentences."""
        problems = []
        for kind, name in sorted(self._defaults.items()):
            problem = self._build(name).readiness_problem()
            if problem:
                problems.append(f"{kind.value} generator '{name}': {problem}")
        return problems
