"""What every content store offers, the key layout they share, and their errors."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from common.errors import ConfigurationError, NotFoundError, UnavailableError

__all__ = [
    "ContentStore",
    "ContentStoreConfigurationError",
    "ObjectStoreUnavailableError",
    "StoredObject",
    "content_address",
    "missing_content",
    "require_stored_path",
]


@dataclass(frozen=True, slots=True)
class StoredObject:
    sha256: str
    path: str  # relative to the store root (a directory or a bucket prefix)
    size_bytes: int


class ContentStore(Protocol):
    """Content-addressed bytes: raw outputs, stamped artifacts and sidecar manifests."""

    def put(self, data: bytes, suffix: str = "") -> StoredObject:
        """Store ``data`` once under its SHA-256 (equal content shares one object)."""
        ...

    def read(self, relative: str) -> bytes:
        """The bytes at a path ``put`` handed out; ``NotFoundError`` for any other path."""
        ...

    def readiness_problem(self) -> str | None:
        """Why the store cannot serve now (for ``/readyz``), or None."""
        ...

    def describe(self) -> str:
        """Where the content lives, for logs and start-up messages (never credentials)."""
        ...


class ContentStoreConfigurationError(ConfigurationError):
    """``AIGC_CONTENT_URL`` is malformed, or its store cannot be used at start-up."""

    code = "content_store_misconfigured"


class ObjectStoreUnavailableError(UnavailableError):
    """The object store failed or did not answer in time; retrying later may work."""

    code = "object_store_unavailable"


# Every path ``put`` hands out; ``read`` takes nothing else, so no path can leave the root
# (checked by its shape: resolving both paths cost a dozen lstat calls per read).
_STORED_PATH = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}(\.[0-9a-z]{1,8})?")


def content_address(data: bytes, suffix: str) -> StoredObject:
    """The digest and the relative path ("ab/cd/<sha256><suffix>") of ``data``."""
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{digest[:2]}/{digest[2:4]}/{digest}{suffix}"
    return StoredObject(sha256=digest, path=relative, size_bytes=len(data))


def missing_content() -> NotFoundError:
    # One message for a malformed and an absent path: a caller learns nothing from probing.
    return NotFoundError("stored content is missing")


def require_stored_path(relative: str) -> None:
    """Refuse anything but the shape ``put`` hands out (no "..", no absolute paths)."""
    if not _STORED_PATH.fullmatch(relative):
        raise missing_content()
