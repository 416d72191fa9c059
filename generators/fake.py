"""Deterministic fake generators for other packages' tests: no torch, no models, fast.

Each fake honours the real parameter checks of its kind (unknown keys and bad ranges
raise ``InvalidParamsError``), records the requests it served, and can be told to fail
or to be not ready::

    fake = FakeTextGenerator()
    fake.generate(GenerationRequest(ContentKind.TEXT, "新品")).text   # same text every time
    FakeImageGenerator().generate(GenerationRequest(ContentKind.IMAGE, "cat",
                                                    {"width": 256, "height": 256}))
    FakeTextGenerator(fail_with=GenerationFailedError("boom")).generate(...)  # raises
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from collections.abc import Mapping
from typing import Any

from common.errors import GatewayError
from common.types import ContentKind, MediaType
from generators.interface import (
    GeneratedArtifact,
    GenerationRequest,
    GeneratorNotReadyError,
    InvalidParamsError,
    Usage,
)
from generators.params import read_float, read_int, reject_unknown_params

__all__ = ["FakeImageGenerator", "FakeModel3DGenerator", "FakeTextGenerator", "minimal_glb"]

FAKE_REVISION = "fake/1"


class _FakeBase:
    kind: ContentKind
    name: str

    def __init__(
        self, name: str, *, fail_with: GatewayError | None = None, not_ready: str | None = None
    ) -> None:
        self.name = name
        self.fail_with = fail_with
        self.not_ready = not_ready
        self.requests: list[GenerationRequest] = []

    def readiness_problem(self) -> str | None:
        return self.not_ready

    def _accept(self, request: GenerationRequest) -> None:
        if request.kind is not self.kind:
            raise InvalidParamsError(f"{self.name} generates {self.kind}, not {request.kind}")
        if self.not_ready is not None:
            raise GeneratorNotReadyError(self.not_ready)
        if self.fail_with is not None:
            raise self.fail_with
        self.requests.append(request)

    def _artifact(self, media_type: MediaType, data: bytes, **extra: Any) -> GeneratedArtifact:
        return GeneratedArtifact(
            kind=self.kind,
            media_type=media_type,
            data=data,
            generator=self.name,
            model=self.name,
            model_revision=FAKE_REVISION,
            **extra,
        )


class FakeTextGenerator(_FakeBase):
    """Echoes the prompt in a fixed sentence (or returns ``reply``), word-capped."""

    kind = ContentKind.TEXT

    def __init__(
        self,
        name: str = "fake-text",
        *,
        reply: str | None = None,
        fail_with: GatewayError | None = None,
        not_ready: str | None = None,
    ) -> None:
        super().__init__(name, fail_with=fail_with, not_ready=not_ready)
        self.reply = reply

    def generate(self, request: GenerationRequest) -> GeneratedArtifact:
        params = request.params
        reject_unknown_params(
            params, {"max_new_tokens", "min_new_tokens", "temperature", "top_p", "seed"}
        )
        max_tokens = read_int(params, "max_new_tokens", default=96, minimum=1, maximum=4096)
        read_float(params, "temperature", default=1.0, minimum=0.0, maximum=2.0)
        read_float(params, "top_p", default=1.0, minimum=0.01, maximum=1.0)
        self._accept(request)
        text = self.reply if self.reply is not None else f"Fresh copy about {request.prompt}."
        words = text.split(" ")
        capped = " ".join(words[:max_tokens])
        return self._artifact(
            MediaType.TEXT,
            capped.encode("utf-8"),
            usage=Usage(len(request.prompt.split()), min(len(words), max_tokens)),
            finish_reason="length" if len(words) > max_tokens else "stop",
        )


class FakeImageGenerator(_FakeBase):
    """A smooth PNG whose colours derive from the prompt and seed."""

    kind = ContentKind.IMAGE

    def __init__(
        self,
        name: str = "fake-image",
        *,
        fail_with: GatewayError | None = None,
        not_ready: str | None = None,
    ) -> None:
        super().__init__(name, fail_with=fail_with, not_ready=not_ready)

    def generate(self, request: GenerationRequest) -> GeneratedArtifact:
        width, height, seed = read_image_params(request.params)
        self._accept(request)
        return self._artifact(MediaType.PNG, gradient_png(request.prompt, seed, width, height))


def read_image_params(params: Mapping[str, Any]) -> tuple[int, int, int]:
    reject_unknown_params(
        params, {"width", "height", "steps", "guidance", "seed", "negative_prompt"}
    )
    width = read_int(params, "width", default=256, minimum=8, maximum=4096)
    height = read_int(params, "height", default=256, minimum=8, maximum=4096)
    if width % 8 or height % 8:
        raise InvalidParamsError("width and height must be multiples of 8")
    return width, height, read_int(params, "seed", default=0, minimum=0, maximum=2**63 - 1)


def gradient_png(prompt: str, seed: int, width: int, height: int) -> bytes:
    import numpy as np
    from PIL import Image

    digest = hashlib.sha256(f"{seed}:{prompt}".encode()).digest()
    start = np.array(list(digest[:3]), dtype=np.float32)
    end = np.array(list(digest[3:6]), dtype=np.float32)
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    mix = (x + y) / 2
    pixels = (start * (1 - mix) + end * mix).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


class FakeModel3DGenerator(_FakeBase):
    """A one-triangle GLB, written by hand."""

    kind = ContentKind.MODEL3D

    def __init__(
        self,
        name: str = "fake-3d",
        *,
        fail_with: GatewayError | None = None,
        not_ready: str | None = None,
    ) -> None:
        super().__init__(name, fail_with=fail_with, not_ready=not_ready)

    def generate(self, request: GenerationRequest) -> GeneratedArtifact:
        reject_unknown_params(request.params, {"size", "shape", "color", "segments"})
        self._accept(request)
        return self._artifact(MediaType.GLB, minimal_glb())


def minimal_glb() -> bytes:
    """One triangle as a glTF 2.0 binary (glTF 2.0 §4.4: header, JSON chunk, BIN chunk)."""
    positions = struct.pack("<9f", 0, 0, 0, 1, 0, 0, 0, 1, 0)
    gltf = {
        "asset": {"version": "2.0", "generator": "aigc-gateway fake"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "triangle"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "buffers": [{"byteLength": len(positions)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(positions)}],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,  # FLOAT
                "count": 3,
                "type": "VEC3",
                "min": [0, 0, 0],
                "max": [1, 1, 0],
            }
        ],
    }
    json_chunk = pad4(json.dumps(gltf, separators=(",", ":")).encode(), b" ")
    bin_chunk = pad4(positions, b"\0")
    body = (
        struct.pack("<I4s", len(json_chunk), b"JSON")
        + json_chunk
        + struct.pack("<I4s", len(bin_chunk), b"BIN\0")
        + bin_chunk
    )
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def pad4(data: bytes, filler: bytes) -> bytes:
    """Chunks are 4-byte aligned: JSON padded with spaces, BIN with zeros (glTF 2.0 §4.4.3)."""
    return data + filler * (-len(data) % 4)
