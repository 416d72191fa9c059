"""The fakes other packages test with."""

from __future__ import annotations

import io

import pytest
import trimesh
from PIL import Image

from common.types import ContentKind, MediaType
from generators.fake import FakeImageGenerator, FakeModel3DGenerator, FakeTextGenerator
from generators.interface import (
    GenerationFailedError,
    GenerationRequest,
    GeneratorNotReadyError,
    InvalidParamsError,
)


def test_fake_text_is_deterministic_and_records_requests() -> None:
    fake = FakeTextGenerator()
    request = GenerationRequest(ContentKind.TEXT, "保温杯", {"seed": 1})

    first, second = fake.generate(request), fake.generate(request)

    assert first == second
    assert first.text == "Fresh copy about 保温杯."
    assert fake.requests == [request, request]


def test_fake_text_caps_words_and_validates_params() -> None:
    fake = FakeTextGenerator(reply="one two three four")

    artifact = fake.generate(GenerationRequest(ContentKind.TEXT, "x", {"max_new_tokens": 2}))

    assert artifact.text == "one two"
    assert artifact.finish_reason == "length"
    with pytest.raises(InvalidParamsError):
        fake.generate(GenerationRequest(ContentKind.TEXT, "x", {"max_new_tokens": -1}))


def test_fake_image_is_a_png_of_the_requested_size() -> None:
    request = GenerationRequest(ContentKind.IMAGE, "cat", {"width": 320, "height": 256, "seed": 2})

    artifact = FakeImageGenerator().generate(request)

    assert artifact.media_type is MediaType.PNG
    with Image.open(io.BytesIO(artifact.data)) as image:
        assert image.size == (320, 256)
    assert FakeImageGenerator().generate(request).data == artifact.data


def test_fake_3d_is_a_loadable_glb() -> None:
    artifact = FakeModel3DGenerator().generate(GenerationRequest(ContentKind.MODEL3D, "box"))

    scene = trimesh.load(io.BytesIO(artifact.data), file_type="glb")
    assert len(scene.geometry) == 1


def test_fakes_can_fail_or_be_unready() -> None:
    failing = FakeTextGenerator(fail_with=GenerationFailedError("model crashed"))
    unready = FakeImageGenerator(not_ready="no GPU today")

    with pytest.raises(GenerationFailedError, match="model crashed"):
        failing.generate(GenerationRequest(ContentKind.TEXT, "x"))
    assert unready.readiness_problem() == "no GPU today"
    with pytest.raises(GeneratorNotReadyError):
        unready.generate(GenerationRequest(ContentKind.IMAGE, "x"))
