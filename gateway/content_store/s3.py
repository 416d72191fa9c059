"""Content in an S3-compatible object store (``AIGC_CONTENT_URL=s3://bucket/prefix``).

    store = S3Store("aigc-content", "prod")    # checks the bucket at once
    ref = store.put(b"...", ".png")            # key "prod/ab/cd/abcd….png"

The endpoint, credentials and region come from the usual AWS settings, which boto3 reads
itself (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, or a profile). Keys are the directory store's relative paths
under the prefix, so a directory can be copied into a bucket as it is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from gateway.content_store.interface import (
    ContentStoreConfigurationError,
    ObjectStoreUnavailableError,
    StoredObject,
    content_address,
    missing_content,
    require_stored_path,
)

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

__all__ = ["S3Store"]

log = logging.getLogger(__name__)

# Error codes S3 servers use for "no such object": GetObject names it, HeadObject (no
# body) only has the status.
_MISSING_KEY = frozenset({"NoSuchKey", "404", "NotFound"})
_MISSING_BUCKET = frozenset({"NoSuchBucket", "404", "NotFound"})
_DENIED = frozenset({"403", "AccessDenied", "Forbidden", "InvalidAccessKeyId"})


def _data_config(max_connections: int) -> Config:
    # Requests that move content: a few retries with backoff ride over a server restart or
    # a throttled moment; the read timeout bounds a stalled transfer, not a whole one.
    return Config(
        connect_timeout=5,
        read_timeout=30,
        retries={"total_max_attempts": 4, "mode": "standard"},
        # One per worker thread, or threads queue for a connection (urllib3's pool).
        max_pool_connections=max_connections,
    )


# The bucket check behind start-up and /readyz: one quick attempt, so a down store is
# reported within seconds instead of after the data client's retries.
_PROBE_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1})


class S3Store:
    def __init__(self, bucket: str, prefix: str = "", *, max_connections: int = 10) -> None:
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        # boto3 clients are thread-safe (sessions are not): build both here, share them.
        session = boto3.session.Session()
        self._client: S3Client = session.client("s3", config=_data_config(max_connections))
        self._probe: S3Client = session.client("s3", config=_PROBE_CONFIG)
        problem = self.readiness_problem()
        if problem is not None:
            raise ContentStoreConfigurationError(f"content store {self.describe()}: {problem}")

    def put(self, data: bytes, suffix: str = "") -> StoredObject:
        stored = content_address(data, suffix)
        key = self._key(stored.path)
        # Content-addressed: an existing key already holds these bytes.
        if not self._exists(key):
            try:
                self._client.put_object(Bucket=self._bucket, Key=key, Body=data)
            except (BotoCoreError, ClientError) as exc:
                raise self._unavailable("put", key, exc) from exc
        return stored

    def read(self, relative: str) -> bytes:
        require_stored_path(relative)
        key = self._key(relative)
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
            return response["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in _MISSING_KEY:
                raise missing_content() from exc
            raise self._unavailable("get", key, exc) from exc
        except BotoCoreError as exc:  # connection, timeout, a body cut short
            raise self._unavailable("get", key, exc) from exc

    def readiness_problem(self) -> str | None:
        # Short texts without the endpoint: /readyz answers without a key.
        try:
            self._probe.head_bucket(Bucket=self._bucket)
        except NoCredentialsError:
            return "no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        except ClientError as exc:
            code = _error_code(exc)
            if code in _MISSING_BUCKET:
                return f"bucket {self._bucket!r} does not exist"
            if code in _DENIED:
                return f"access to bucket {self._bucket!r} denied ({code})"
            return f"bucket check failed ({code})"
        except BotoCoreError as exc:
            return f"endpoint unreachable ({type(exc).__name__})"
        return None

    def describe(self) -> str:
        where = f"s3://{self._bucket}/{self._prefix}" if self._prefix else f"s3://{self._bucket}"
        return f"{where} at {self._client.meta.endpoint_url}"

    def _key(self, relative: str) -> str:
        return f"{self._prefix}/{relative}" if self._prefix else relative

    def _exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            # Without s3:ListBucket, S3 answers 403 for a missing key: upload then, and
            # let the put itself say whether writing is allowed.
            if _error_code(exc) in _MISSING_KEY | _DENIED:
                return False
            raise self._unavailable("head", key, exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable("head", key, exc) from exc
        return True

    def _unavailable(self, action: str, key: str, exc: Exception) -> ObjectStoreUnavailableError:
        # The details (endpoint, key, the server's words) go to the log; the client gets a
        # 503 without them.
        log.warning("object store %s of %s in %s failed: %s", action, key, self.describe(), exc)
        return ObjectStoreUnavailableError(
            "the object store is unavailable; retry later", details={"retry_after_s": 5}
        )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
