"""``POST /v1/stamp``: type sniffing, contradictions, hostile files, and the pipeline run."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from gateway.models import Role
from gateway.runtime import Runtime
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db


def png_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid PNG header declaring a huge image, with almost no data behind it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.fixture
def key(runtime: Runtime) -> str:
    return issue_key(runtime, "acme", Role.GENERATE)


def stamp(client: TestClient, key: str, name: str, data: bytes, ctype: str, meta: object = None):  # type: ignore[no-untyped-def]
    form = {"meta": json.dumps(meta)} if meta is not None else {}
    return client.post(
        "/v1/stamp", files={"file": (name, data, ctype)}, data=form, headers=bearer(key)
    )


def test_png_without_extension_is_accepted(client: TestClient, key: str) -> None:
    response = stamp(client, key, "upload", png_bytes(), "application/octet-stream")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["kind"] == "image"
    assert body["source"] == "stamped"
    assert body["status"] == "released"
    assert client.get(f"/v1/generations/{body['id']}", headers=bearer(key)).status_code == 200


def test_text_and_markdown(client: TestClient, key: str) -> None:
    text = stamp(client, key, "copy.txt", "限时优惠，欢迎选购".encode(), "text/plain")
    assert text.status_code == 201
    assert text.json()["kind"] == "text"
    md = stamp(client, key, "copy.md", b"# Title\n\nBody", "text/plain", {"label_language": "en"})
    assert md.status_code == 201


@pytest.mark.parametrize(
    ("name", "ctype", "meta"),
    [
        ("photo.jpg", "application/octet-stream", None),
        ("upload", "image/jpeg", None),
        ("upload", "application/octet-stream", {"media_type": "model/gltf-binary"}),
    ],
    ids=["lying-extension", "lying-content-type", "lying-meta"],
)
def test_contradicting_declared_type_is_415(
    client: TestClient, key: str, name: str, ctype: str, meta: object
) -> None:
    response = stamp(client, key, name, png_bytes(), ctype, meta)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_unsupported_bytes_are_415(client: TestClient, key: str) -> None:
    response = stamp(client, key, "x.bin", b"\x00\x01\x02PK\x03\x04" * 10, "application/zip")
    assert response.status_code == 415


def test_truncated_png_is_422(client: TestClient, key: str) -> None:
    response = stamp(client, key, "t.png", png_bytes((300, 300))[:200], "image/png")
    assert response.status_code == 422
    assert "truncated" in response.json()["error"]["message"]


def test_decompression_bomb_is_413(client: TestClient, key: str) -> None:
    response = stamp(client, key, "bomb.png", bomb_png(), "image/png")
    assert response.status_code == 413
    assert client.get("/healthz").status_code == 200


def test_malformed_meta_is_422(client: TestClient, key: str) -> None:
    response = client.post(
        "/v1/stamp",
        files={"file": ("a.png", png_bytes(), "image/png")},
        data={"meta": "{not json"},
        headers=bearer(key),
    )
    assert response.status_code == 422
    wrong_kind = stamp(client, key, "a.png", png_bytes(), "image/png", {"kind": "text"})
    assert wrong_kind.status_code == 422


def test_missing_file_is_422(client: TestClient, key: str) -> None:
    response = client.post("/v1/stamp", data={"meta": "{}"}, headers=bearer(key))
    assert response.status_code == 422
