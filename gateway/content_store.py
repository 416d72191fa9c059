"""A content-addressed local store for artifacts (raw outputs and stamped files).

    store = ContentStore(settings.content_dir_resolved)
    ref = store.put(b"...", suffix=".png")   # StoredObject(sha256=..., path="ab/cd/abcd….png")
    store.read(ref.path)

Paths are relative to the store root so the directory can move. Writes are atomic
(temporary file then rename); equal content is stored once.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from common.errors import NotFoundError

__all__ = ["ContentStore", "StoredObject"]


@dataclass(frozen=True, slots=True)
class StoredObject:
    sha256: str
    path: str  # relative to the store root
    size_bytes: int


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, data: bytes, suffix: str = "") -> StoredObject:
        digest = hashlib.sha256(data).hexdigest()
        relative = f"{digest[:2]}/{digest[2:4]}/{digest}{suffix}"
        target = self.root / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            # Unique per process and thread: two threads may store equal content at once.
            tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return StoredObject(sha256=digest, path=relative, size_bytes=len(data))

    def read(self, relative: str) -> bytes:
        target = (self.root / relative).resolve()
        if self.root.resolve() not in target.parents or not target.is_file():
            raise NotFoundError("stored content is missing")
        return target.read_bytes()
