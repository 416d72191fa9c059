"""Fixtures of the gateway tests: the verification world, and a real S3 server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.gateway.test_verification_world import provenance_settings, world

if TYPE_CHECKING:
    from tests.support.s3server import S3Server

__all__ = ["provenance_settings", "s3_server", "world"]  # fixtures, imported for pytest


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS (moto_server if weed cannot start) on loopback, with the bucket ``TEST_BUCKET``;
    one per session: it starts in about a second and each test uses a prefix of its own."""
    from tests.support.s3server import TEST_BUCKET, running_s3_server  # boto3 only if asked

    with running_s3_server(tmp_path_factory.mktemp("s3"), buckets=(TEST_BUCKET,)) as server:
        yield server
