"""Fixtures of the gateway tests: the verification world, a real S3 server, and a key
prefix of its own on the machine's Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import redis

from tests.gateway.test_verification_world import provenance_settings, world

if TYPE_CHECKING:
    from tests.support.s3server import S3Server

__all__ = ["REDIS_URL", "provenance_settings", "redis_prefix", "s3_server", "world"]

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix; whatever a test left under it is deleted afterwards."""
    prefix = f"aigc-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS (moto_server if weed cannot start) on loopback, with the bucket ``TEST_BUCKET``;
    one per session: it starts in about a second and each test uses a prefix of its own."""
    from tests.support.s3server import TEST_BUCKET, running_s3_server  # boto3 only if asked

    with running_s3_server(tmp_path_factory.mktemp("s3"), buckets=(TEST_BUCKET,)) as server:
        yield server
