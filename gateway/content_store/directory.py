"""Content in a local directory (the default, ``AIGC_CONTENT_DIR``).

Paths are relative to the store root so the directory can move. Writes are atomic
(temporary file then rename); equal content is stored once.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from gateway.content_store.interface import (
    StoredObject,
    content_address,
    missing_content,
    require_stored_path,
)

__all__ = ["DirectoryStore"]


class DirectoryStore:
    def __init__(self, root: Path) -> None:
        self._root = str(root)

    def put(self, data: bytes, suffix: str = "") -> StoredObject:
        stored = content_address(data, suffix)
        target = os.path.join(self._root, stored.path)
        if not os.path.exists(target):
            folder, name = os.path.split(target)
            os.makedirs(folder, exist_ok=True)
            # Unique per process and thread: two threads may store equal content at once.
            tmp = os.path.join(folder, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
            with open(tmp, "wb") as file:
                file.write(data)
            os.replace(tmp, target)
        return stored

    def read(self, relative: str) -> bytes:
        require_stored_path(relative)
        try:
            with open(os.path.join(self._root, relative), "rb") as file:
                return file.read()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise missing_content() from exc

    def readiness_problem(self) -> str | None:
        # ``Runtime.start`` creates the directory; one removed or unmounted later shows here.
        # No path in the text: /readyz answers without a key.
        if not os.path.isdir(self._root):
            return "the content directory is missing"
        return None

    def describe(self) -> str:
        return f"directory {self._root}"
