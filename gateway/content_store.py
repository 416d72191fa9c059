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
import re
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


# Every path ``put`` hands out; ``read`` takes nothing else, so no path can leave the root
# (checked by its shape: resolving both paths cost a dozen lstat calls per read).
_STORED_PATH = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}(\.[0-9a-z]{1,8})?")


class ContentStore:
    def __init__(self, root: Path) -> None:
        self._root = str(root)

    def put(self, data: bytes, suffix: str = "") -> StoredObject:
        digest = hashlib.sha256(data).hexdigest()
        relative = f"{digest[:2]}/{digest[2:4]}/{digest}{suffix}"
        target = os.path.join(self._root, relative)
        if not os.path.exists(target):
            folder, name = os.path.split(target)
            os.makedirs(folder, exist_ok=True)
            # Unique per process and thread: two threads may store equal content at once.
            tmp = os.path.join(folder, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
            with open(tmp, "wb") as file:
                file.write(data)
            os.replace(tmp, target)
        return StoredObject(sha256=digest, path=relative, size_bytes=len(data))

    def read(self, relative: str) -> bytes:
        if not _STORED_PATH.fullmatch(relative):
            raise NotFoundError("stored content is missing")
        try:
            with open(os.path.join(self._root, relative), "rb") as file:
                return file.read()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise NotFoundError("stored content is missing") from exc
