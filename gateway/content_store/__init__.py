"""Content-addressed storage for artifacts (raw outputs, stamped files, manifests).

    store = open_content_store(settings)   # a directory, or s3:// from AIGC_CONTENT_URL
    ref = store.put(b"...", suffix=".png")  # StoredObject(sha256=..., path="ab/cd/abcd….png")
    store.read(ref.path)

Every store keeps the same relative paths, so the database rows do not depend on where the
content lives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gateway.content_store.directory import DirectoryStore
from gateway.content_store.interface import (
    ContentStore,
    ContentStoreConfigurationError,
    ObjectStoreUnavailableError,
    StoredObject,
)

if TYPE_CHECKING:
    from gateway.settings import Settings

__all__ = [
    "ContentStore",
    "ContentStoreConfigurationError",
    "DirectoryStore",
    "ObjectStoreUnavailableError",
    "StoredObject",
    "open_content_store",
]

_FORMS = "s3://bucket[/prefix] for an object store, file:// or unset for AIGC_CONTENT_DIR"


def open_content_store(settings: Settings) -> ContentStore:
    """The store ``settings.content_url`` names; an S3 store checks its bucket first."""
    url = settings.content_url
    if not url:
        return DirectoryStore(settings.content_dir_resolved)
    parts = urlsplit(url)
    if parts.scheme == "file":
        # The directory has one setting (AIGC_CONTENT_DIR); a second one here would
        # disagree with it sooner or later.
        if parts.netloc or parts.path not in ("", "/"):
            raise _bad_url(url, "file:// takes no path; set AIGC_CONTENT_DIR for the directory")
        return DirectoryStore(settings.content_dir_resolved)
    if parts.scheme == "s3":
        if "@" in parts.netloc:  # never echo it: the part before "@" may be a secret
            raise ContentStoreConfigurationError(
                "AIGC_CONTENT_URL must not carry credentials; boto3 reads AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY (or a profile)"
            )
        if not parts.netloc or parts.query or parts.fragment:
            raise _bad_url(url, "it needs a bucket and nothing after the prefix")
        from gateway.content_store.s3 import S3Store  # boto3 only when asked for

        return S3Store(parts.netloc, parts.path, max_connections=settings.worker_threads)
    raise _bad_url(url, "unknown scheme")


def _bad_url(url: str, why: str) -> ContentStoreConfigurationError:
    return ContentStoreConfigurationError(
        f"AIGC_CONTENT_URL={url!r}: {why} (use {_FORMS})", details={"content_url": url}
    )
