"""3D models (GLB): strings go to the text scanners, textures to the image scanners."""

from __future__ import annotations

import base64
import io
import json
import struct

import pytest
from PIL import Image

from common.types import ContentKind
from moderation import Action, Direction, ImageHashEntry, ModerationEngine, NotAModelError
from moderation.policy import Policy
from moderation.scanners.image_hash import compute_hashes
from moderation.scanners.model3d import extract_glb_content


def png(color: tuple[int, int, int], stripes: bool = False) -> bytes:
    image = Image.new("RGB", (64, 64), color)
    if stripes:
        for x in range(0, 64, 4):
            for y in range(64):
                image.putpixel((x, y), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def glb(document: dict[str, object], binary: bytes = b"") -> bytes:
    """A GLB 2.0 file (glTF 2.0 §4.4): header, JSON chunk, optional BIN chunk, 4-aligned."""
    json_bytes = json.dumps(document).encode()
    json_bytes += b" " * (-len(json_bytes) % 4)
    binary += b"\x00" * (-len(binary) % 4)
    chunks = struct.pack("<II", len(json_bytes), 0x4E4F534A) + json_bytes
    if binary:
        chunks += struct.pack("<II", len(binary), 0x004E4942) + binary
    return b"glTF" + struct.pack("<II", 2, 12 + len(chunks)) + chunks


def textured_model(name: str, texture: bytes, as_data_uri: bool = False) -> bytes:
    image: dict[str, object]
    if as_data_uri:
        image = {"uri": "data:image/png;base64," + base64.b64encode(texture).decode()}
        return glb({"asset": {"version": "2.0"}, "nodes": [{"name": name}], "images": [image]})
    document: dict[str, object] = {
        "asset": {"version": "2.0", "generator": "parametric-3d"},
        "nodes": [{"name": name}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(texture)}],
        "images": [{"bufferView": 0, "mimeType": "image/png"}],
    }
    return glb(document, texture)


def test_extract_strings_and_textures() -> None:
    texture = png((10, 120, 200))
    content = extract_glb_content(textured_model("Chair", texture))
    assert content.text.splitlines() == ["parametric-3d", "Chair"]
    assert content.images == (texture,)
    from_uri = extract_glb_content(textured_model("Chair", texture, as_data_uri=True))
    assert from_uri.images == (texture,)


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04zipfile", b"glTF" + struct.pack("<II", 1, 20)])
def test_not_a_glb_is_415(data: bytes) -> None:
    with pytest.raises(NotAModelError) as caught:
        extract_glb_content(data)
    assert caught.value.http_status == 415


def test_model_names_are_moderated_as_text(engine: ModerationEngine, cn_policy: Policy) -> None:
    model = textured_model("全网最好的椅子", png((10, 120, 200)))
    decision = engine.moderate_content(ContentKind.MODEL3D, model, Direction.OUTPUT, cn_policy)
    assert decision.action is Action.REVIEW
    assert [finding.category for finding in decision.findings] == ["ad_law.absolute_term"]
    assert any(v.startswith("image_hash=") for v in decision.scanner_versions)


def test_model_textures_are_matched_against_the_registry(
    engine: ModerationEngine, cn_policy: Policy
) -> None:
    banned = png((200, 30, 30), stripes=True)
    hashes = compute_hashes(banned)
    registry = [ImageHashEntry(7, "banned", "logo", hashes.phash, hashes.dhash)]
    model = textured_model("Chair", banned)
    decision = engine.moderate_content(
        ContentKind.MODEL3D, model, Direction.OUTPUT, cn_policy, tenant_images=registry
    )
    assert decision.action is Action.BLOCK
    assert decision.findings[0].category == "image_match.banned"


def test_an_undecodable_texture_fails_closed(engine: ModerationEngine, cn_policy: Policy) -> None:
    model = textured_model("Chair", b"not an image at all")
    decision = engine.moderate_content(ContentKind.MODEL3D, model, Direction.OUTPUT, cn_policy)
    assert decision.action is Action.REVIEW
    assert decision.findings[0].category == "model3d.undecodable_texture"


def test_content_dispatch_for_text_and_images(engine: ModerationEngine, cn_policy: Policy) -> None:
    text = engine.moderate_content(ContentKind.TEXT, "最佳".encode(), Direction.OUTPUT, cn_policy)
    assert text.action is Action.REVIEW
    image = engine.moderate_content(ContentKind.IMAGE, png((1, 2, 3)), Direction.OUTPUT, cn_policy)
    assert image.action is Action.ALLOW
