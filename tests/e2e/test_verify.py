"""Verification over real HTTP (uvicorn on loopback): every verdict, hostile uploads.

The files are published by the test world (real stamper, real ledger, the same database
as the server's runtime), then verified through ``POST /v1/verify`` like any client would.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.types import MediaType
from gateway.runtime import Runtime
from provenance.manifest import SOFT_BINDING_ALG, encode_soft_binding_value
from tests.e2e.conftest import LiveServer, serving
from tests.gateway.test_verification_http import app_with_verifier
from tests.gateway.test_verification_world import (
    World,
    crop_fraction,
    encode,
    flip_pixel_bytes,
    sample_photo,
    sign_with_foreign_chain,
    strip_metadata,
)

pytestmark = [pytest.mark.e2e, pytest.mark.db]


@pytest.fixture
def server(runtime: Runtime, world: World) -> Iterator[str]:
    runtime.settings.limits.max_upload_bytes = 8_000_000
    with serving(runtime, app_with_verifier(runtime, world)) as base_url:
        yield base_url


def verify_file(base_url: str, data: bytes, name: str, media_type: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}/v1/verify", files={"file": (name, data, media_type)}, timeout=60
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_every_image_verdict_over_http(server: str, world: World, tmp_path: Path) -> None:
    published = world.publish(encode(sample_photo("astronaut", 512), "PNG"), MediaType.PNG)
    gid = published.generation_id
    cases = {
        "verified": (published.data, "image/png"),
        "stripped": (strip_metadata(published.data, "PNG"), "image/png"),
        "jpeg75": (strip_metadata(published.data, "JPEG", quality=75), "image/jpeg"),
        "crop10": (crop_fraction(published.data, 0.10), "image/png"),
        "tampered": (flip_pixel_bytes(published.data), "image/png"),
        "foreign": (
            sign_with_foreign_chain(
                encode(sample_photo("rocket", 400), "PNG"), MediaType.PNG, tmp_path / "other"
            ),
            "image/png",
        ),
        "photo": (encode(sample_photo("coffee", 400), "JPEG", quality=90), "image/jpeg"),
    }
    expected = {
        "verified": ("verified", gid),
        "stripped": ("verified_via_watermark", gid),
        "jpeg75": ("verified_via_watermark", gid),
        "crop10": ("verified_via_watermark", gid),
        "tampered": ("tampered", gid),
        "foreign": ("foreign_provenance", None),
        "photo": ("unknown", None),
    }
    seen = {
        name: verify_file(server, data, f"{name}.bin", media_type)
        for name, (data, media_type) in cases.items()
    }
    assert {name: (b["verdict"], b["generation_id"]) for name, b in seen.items()} == expected
    assert seen["stripped"]["c2pa"] == seen["stripped"]["c2pa"] | {"recovered": True}


def test_text_and_glb_over_http(server: str, world: World) -> None:
    import trimesh

    text = world.publish("夏日清凉饮品，买一送一。".encode(), MediaType.TEXT)
    body = httpx.post(
        f"{server}/v1/verify", json={"text": text.data.decode("utf-8")}, timeout=60
    ).json()
    assert (body["verdict"], body["generation_id"]) == ("verified", text.generation_id)
    glb = world.publish(
        trimesh.creation.icosphere(subdivisions=1).export(file_type="glb"), MediaType.GLB
    )
    body = verify_file(server, glb.data, "model.glb", "model/gltf-binary")
    assert (body["verdict"], body["generation_id"]) == ("verified", glb.generation_id)
    unlabelled = trimesh.creation.box().export(file_type="glb")
    assert verify_file(server, unlabelled, "box.glb", "model/gltf-binary")["verdict"] == "unknown"


def test_200_mb_upload_is_refused_before_the_body_is_read(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    declared = 200 * 1024 * 1024
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/verify HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            + f"Content-Length: {declared}\r\n\r\n".encode()
            + b"--b\r\n"
        )
        started = time.monotonic()
        answer = sock.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert "payload_too_large" in answer
    assert time.monotonic() - started < 5


def test_hostile_uploads_are_4xx_and_the_worker_lives(server: str) -> None:
    from PIL import Image

    bomb = encode(Image.new("1", (20_000, 20_000)), "PNG")
    truncated = encode(sample_photo("astronaut", 300), "JPEG")[:2000]
    cases = [
        (b"", "empty.png", "image/png", 422),
        (bomb, "bomb.png", "image/png", 413),
        (truncated, "cut.jpg", "image/jpeg", 422),
        (bytes(range(256)) * 100, "noise.jpg", "image/jpeg", 415),
    ]
    for data, name, media_type, status in cases:
        response = httpx.post(
            f"{server}/v1/verify", files={"file": (name, data, media_type)}, timeout=60
        )
        assert response.status_code == status, (name, response.text)
        assert response.json()["error"]["message"]
    assert httpx.get(f"{server}/healthz", timeout=10).status_code == 200


# --- through the gateway's own pipeline ----------------------------------------------------


def test_pipeline_stamped_upload_and_generated_text_verify(
    live_server: LiveServer, runtime: Runtime
) -> None:
    """The gateway's own runtime: its stamper, ledger, watermarker and verifier."""
    gateway_server = live_server.base_url
    from gateway.models import Role
    from tests.support.gateway import bearer, issue_key

    headers = bearer(issue_key(runtime, "acme", Role.GENERATE))
    photo = encode(sample_photo("astronaut", 512), "PNG")
    created = httpx.post(
        f"{gateway_server}/v1/stamp",
        files={"file": ("photo.png", photo, "image/png")},
        data={"meta": "{}"},
        headers=headers,
        timeout=120,
    )
    assert created.status_code == 201, created.text
    generation = created.json()
    assert generation["status"] == "released", generation
    stamped = httpx.get(
        f"{gateway_server}/v1/generations/{generation['id']}/content", headers=headers, timeout=60
    ).content
    body = verify_file(gateway_server, stamped, "stamped.png", "image/png")
    assert (body["verdict"], body["generation_id"]) == ("verified", generation["id"])
    assert [e["type"] for e in body["custody"]][-1] == "stamp"
    for changed in (
        strip_metadata(stamped, "PNG"),
        strip_metadata(stamped, "JPEG", quality=75),
        crop_fraction(stamped, 0.10),
    ):
        body = verify_file(gateway_server, changed, "changed", "application/octet-stream")
        assert (body["verdict"], body["generation_id"]) == (
            "verified_via_watermark",
            generation["id"],
        )
    # C2PA soft-binding resolution recovers the manifest from the watermark alone.
    value = encode_soft_binding_value(watermark_id_int(body))
    matches = httpx.get(
        f"{gateway_server}/v1/matches/byBinding",
        params={"alg": SOFT_BINDING_ALG, "value": value},
        timeout=30,
    ).json()["matches"]
    assert [m["manifestId"] for m in matches] == [generation["provenance"]["manifest_label"]]
    store = httpx.get(f"{gateway_server}/v1/manifests/{matches[0]['manifestId']}", timeout=30)
    assert store.status_code == 200
    assert store.headers["content-type"] == "application/c2pa"
    text = httpx.post(
        f"{gateway_server}/v1/generations",
        json={"kind": "text", "prompt": "为夏季新品写一句宣传语"},
        headers=headers,
        timeout=120,
    ).json()
    assert text["status"] == "released", text
    content = httpx.get(
        f"{gateway_server}/v1/generations/{text['id']}/content", headers=headers, timeout=60
    )
    body = httpx.post(
        f"{gateway_server}/v1/verify", json={"text": content.content.decode("utf-8")}, timeout=60
    ).json()
    assert (body["verdict"], body["generation_id"]) == ("verified", text["id"])


def watermark_id_int(body: dict[str, Any]) -> int:
    return int(body["watermark"]["watermark_id"], 16)


def test_pipeline_stamped_glb_verifies_through_its_sidecar(
    live_server: LiveServer, runtime: Runtime
) -> None:
    import trimesh

    from gateway.models import Role
    from tests.support.gateway import bearer, issue_key

    headers = bearer(issue_key(runtime, "acme", Role.GENERATE))
    glb = trimesh.creation.cylinder(radius=1, height=2, sections=12).export(file_type="glb")
    created = httpx.post(
        f"{live_server.base_url}/v1/stamp",
        files={"file": ("chair.glb", glb, "model/gltf-binary")},
        data={"meta": '{"kind": "model3d"}'},
        headers=headers,
        timeout=120,
    )
    assert created.status_code == 201, created.text
    generation = created.json()
    stamped = httpx.get(
        f"{live_server.base_url}/v1/generations/{generation['id']}/content",
        headers=headers,
        timeout=60,
    ).content
    body = verify_file(live_server.base_url, stamped, "chair.glb", "model/gltf-binary")
    assert (body["verdict"], body["generation_id"]) == ("verified", generation["id"])
    assert body["c2pa"]["state"] == "trusted"
    assert body["implicit_label"]["reserved_code_ok"] is True


def test_generated_image_verified_then_recovered_after_stripping(
    live_server: LiveServer, runtime: Runtime
) -> None:
    from gateway.models import Role
    from tests.support.gateway import bearer, issue_key

    headers = bearer(issue_key(runtime, "acme", Role.GENERATE))
    created = httpx.post(
        f"{live_server.base_url}/v1/generations",
        json={
            "kind": "image",
            "prompt": "夏日海滩上的饮料",
            "params": {"width": 512, "height": 512},
        },
        headers=headers,
        timeout=120,
    )
    assert created.status_code == 201, created.text
    generation = created.json()
    assert generation["status"] == "released", generation
    image = httpx.get(
        f"{live_server.base_url}/v1/generations/{generation['id']}/content",
        headers=headers,
        timeout=60,
    ).content
    body = verify_file(live_server.base_url, image, "generated.png", "image/png")
    assert (body["verdict"], body["generation_id"]) == ("verified", generation["id"])
    assert body["watermark"]["watermark_id"] == generation["provenance"]["watermark_id"]
    stripped = strip_metadata(image, "JPEG", quality=75)
    body = verify_file(live_server.base_url, stripped, "stripped.jpg", "image/jpeg")
    assert (body["verdict"], body["generation_id"]) == ("verified_via_watermark", generation["id"])
