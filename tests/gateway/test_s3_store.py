"""The S3 content store against a real S3 server (SeaweedFS, or moto_server as fallback)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from common.errors import NotFoundError
from gateway.app import create_app
from gateway.cli import app as cli_app
from gateway.content_store import (
    ContentStoreConfigurationError,
    DirectoryStore,
    ObjectStoreUnavailableError,
    open_content_store,
)
from gateway.content_store.s3 import S3Store
from gateway.models import Role
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from tests.support.gateway import bearer, fake_catalog, issue_key
from tests.support.s3server import TEST_BUCKET, S3Server, running_s3_server

SOME_PATH = "ab/cd/" + "ab" * 32 + ".txt"  # well formed, never stored


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Server:
    """The shared server's AWS settings in the environment, where boto3 reads them."""
    _point_boto3_at(s3_server, monkeypatch, tmp_path)
    return s3_server


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(s3_env: S3Server, prefix: str) -> S3Store:
    return S3Store(TEST_BUCKET, prefix)


@pytest.fixture
def settings(database_url: str, data_dir: Path, s3_env: S3Server, prefix: str) -> Settings:
    """The gateway fixtures (``runtime``, ``client``) of this module keep content in S3."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        content_url=f"s3://{TEST_BUCKET}/{prefix}",
        ledger={"anchor": {"node": "eth_tester"}},  # tests/ledger/test_anvil.py runs anvil
    )


def _point_boto3_at(server: S3Server, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    # A developer's own AWS profile or config files must not steer the tests.
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))


def _keys(server: S3Server, prefix: str, bucket: str = TEST_BUCKET) -> list[str]:
    listed = server.client().list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    return [item["Key"] for item in listed.get("Contents", [])]


def test_put_then_read_round_trip(store: S3Store, s3_env: S3Server, prefix: str) -> None:
    stored = store.put(b"released text", ".txt")
    assert stored.path.endswith(f"/{stored.sha256}.txt")
    assert stored.size_bytes == len(b"released text")
    assert store.read(stored.path) == b"released text"
    # The directory store's relative path, under the prefix: a directory copies over as is.
    assert _keys(s3_env, prefix) == [f"{prefix}/{stored.path}"]


def test_equal_content_is_one_object(store: S3Store, s3_env: S3Server, prefix: str) -> None:
    first = store.put(b"same bytes" * 1000, ".bin")
    second = store.put(b"same bytes" * 1000, ".bin")
    with ThreadPoolExecutor(8) as pool:  # one client shared by threads
        more = list(pool.map(lambda _: store.put(b"same bytes" * 1000, ".bin"), range(16)))
    assert {first.path, second.path, *(m.path for m in more)} == {first.path}
    assert len(_keys(s3_env, prefix)) == 1


def test_a_missing_key_is_not_found(store: S3Store) -> None:
    with pytest.raises(NotFoundError, match="stored content is missing"):
        store.read(SOME_PATH)


def test_only_paths_put_hands_out_are_read(store: S3Store) -> None:
    stored = store.put(b"released text", ".txt")
    hostile = ("../secret", "/etc/passwd", "ab/cd", stored.path + "/..", "", stored.path.upper())
    for path in hostile:
        with pytest.raises(NotFoundError):
            store.read(path)


def test_a_missing_bucket_stops_the_start_naming_bucket_and_endpoint(s3_env: S3Server) -> None:
    settings = Settings(content_url="s3://no-such-bucket/x")
    with pytest.raises(ContentStoreConfigurationError) as caught:
        open_content_store(settings)
    message = caught.value.message
    assert "no-such-bucket" in message
    assert s3_env.endpoint_url in message
    assert "does not exist" in message


def test_an_unreachable_endpoint_stops_the_start(
    s3_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = "http://127.0.0.1:9"  # discard port: nothing listens on loopback
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    with pytest.raises(ContentStoreConfigurationError, match="endpoint unreachable") as caught:
        S3Store(TEST_BUCKET)
    assert closed in caught.value.message


def test_wrong_credentials_stop_the_start(
    s3_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    if s3_env.kind == "moto":
        pytest.skip("moto_server accepts any key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(ContentStoreConfigurationError, match="denied"):
        S3Store(TEST_BUCKET)


def test_serve_says_why_it_cannot_start_without_a_traceback(
    s3_env: S3Server, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIGC_DATA_DIR", str(data_dir))
    monkeypatch.setenv("AIGC_CONTENT_URL", "s3://no-such-bucket/prod")
    result = CliRunner().invoke(cli_app, ["serve", "--port", "1"])
    assert result.exit_code == 2
    assert "cannot start: content store s3://no-such-bucket/prod at" in result.output
    assert s3_env.endpoint_url in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("gs://bucket/prefix", "unknown scheme"),
        ("s3:///prefix", "needs a bucket"),
        ("s3://bucket/prefix?region=x", "needs a bucket"),
        ("file:///srv/content", "AIGC_CONTENT_DIR"),
    ],
)
def test_a_malformed_content_url_is_a_clear_error(url: str, why: str) -> None:
    with pytest.raises(ContentStoreConfigurationError, match=why):
        open_content_store(Settings(content_url=url))


def test_credentials_in_the_url_are_refused_and_not_echoed() -> None:
    with pytest.raises(ContentStoreConfigurationError) as caught:
        open_content_store(Settings(content_url="s3://KEY:s3cr3t@bucket/prefix"))
    assert "s3cr3t" not in caught.value.message


@pytest.mark.parametrize("url", [None, "", "file://"])
def test_unset_or_file_url_is_the_content_directory(url: str | None, tmp_path: Path) -> None:
    store = open_content_store(Settings(data_dir=tmp_path, content_url=url))
    assert isinstance(store, DirectoryStore)
    assert store.describe() == f"directory {(tmp_path / 'content').resolve()}"
    assert store.readiness_problem() == "the content directory is missing"  # before start
    (tmp_path / "content").mkdir()
    assert store.readiness_problem() is None


def test_describe_names_bucket_prefix_and_endpoint(store: S3Store, s3_env: S3Server) -> None:
    assert store.describe().startswith(f"s3://{TEST_BUCKET}/t-")
    assert store.describe().endswith(f" at {s3_env.endpoint_url}")
    assert store.readiness_problem() is None


def test_a_generation_keeps_its_content_in_the_bucket(
    client: TestClient, runtime: Runtime, s3_env: S3Server, prefix: str
) -> None:
    key = issue_key(runtime, "acme", Role.GENERATE)
    body = client.post(
        "/v1/generations", json={"kind": "text", "prompt": "春季连衣裙"}, headers=bearer(key)
    ).json()
    assert body["status"] == "released", body
    content = client.get(f"/v1/generations/{body['id']}/content", headers=bearer(key))
    assert content.status_code == 200
    assert content.text == body["output_text"]
    manifest = client.get(f"/v1/generations/{body['id']}/manifest", headers=bearer(key))
    assert manifest.status_code == 200
    # Raw output, stamped text and its manifest: all in the bucket, none on the disk.
    assert len(_keys(s3_env, prefix)) == 3
    assert not [p for p in runtime.settings.content_dir_resolved.rglob("*") if p.is_file()]
    assert client.get("/readyz").json()["status"] == "ready"


def test_a_stopped_store_is_not_ready_and_reads_are_503(
    database_url: str, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server of its own: the shared one must keep running for the other tests.
    with running_s3_server(tmp_path / "s3", buckets=("aigc-down",)) as server:
        _point_boto3_at(server, monkeypatch, tmp_path)
        settings = Settings(
            data_dir=data_dir,
            database_url=database_url,
            content_url="s3://aigc-down/x",
            ledger={"anchor": {"node": "eth_tester"}},
        )
        runtime = build_runtime(settings, catalog=fake_catalog())
        with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
            key = issue_key(runtime, "acme", Role.GENERATE)
            body = client.post(
                "/v1/generations", json={"kind": "text", "prompt": "新品"}, headers=bearer(key)
            ).json()
            server.stop()
            ready = client.get("/readyz")
            assert ready.status_code == 503
            problems = ready.json()["problems"]
            assert "object store: endpoint unreachable (EndpointConnectionError)" in problems
            content = client.get(f"/v1/generations/{body['id']}/content", headers=bearer(key))
            assert content.status_code == 503
            assert content.json()["error"]["code"] == "object_store_unavailable"
            assert "127.0.0.1" not in content.text  # the endpoint stays in the log
            with pytest.raises(ObjectStoreUnavailableError):
                runtime.store.put(b"new bytes", ".txt")
