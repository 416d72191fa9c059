"""The external-process 3D hook, driven with small Python scripts."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trimesh

from common.types import ContentKind, MediaType
from generators.external_3d import External3DGenerator, check_glb
from generators.fake import minimal_glb
from generators.interface import GenerationFailedError, GenerationRequest, GeneratorNotReadyError
from generators.settings import GeneratorSettings

# Writes a GLB whose single node is named after the prompt, and echoes the params
# into the asset's extras, so the test sees what arrived on stdin.
ECHO_SCRIPT = """
import json, sys, trimesh
request = json.load(sys.stdin)
scene = trimesh.Scene()
scene.add_geometry(trimesh.creation.box(), node_name=request["prompt"], geom_name="box")
scene.metadata["params"] = request["params"]
sys.stdout.buffer.write(scene.export(file_type="glb"))
"""


def hook(tmp_path: Path, script: str, timeout_s: float = 30.0) -> External3DGenerator:
    path = tmp_path / "to_3d.py"
    path.write_text(script)
    settings = GeneratorSettings(
        external_3d_command=[sys.executable, str(path)], external_3d_timeout_s=timeout_s
    )
    return External3DGenerator(settings)


def request(prompt: str = "vase", **params: object) -> GenerationRequest:
    return GenerationRequest(kind=ContentKind.MODEL3D, prompt=prompt, params=params)


def test_command_receives_prompt_and_params_and_returns_glb(tmp_path: Path) -> None:
    generator = hook(tmp_path, ECHO_SCRIPT)

    artifact = generator.generate(request("ceramic-vase", steps=30))

    assert artifact.media_type is MediaType.GLB
    assert artifact.generator == "external-3d"
    scene = trimesh.load(io.BytesIO(artifact.data), file_type="glb")
    assert "ceramic-vase" in scene.graph.nodes
    assert generator.readiness_problem() is None


def test_non_zero_exit_is_a_generation_failure(tmp_path: Path) -> None:
    generator = hook(tmp_path, "import sys; sys.stderr.write('/secret/path boom'); sys.exit(3)")

    with pytest.raises(GenerationFailedError, match="exited with status 3") as caught:
        generator.generate(request())

    assert "/secret/path" not in caught.value.message


def test_output_that_is_not_glb_is_rejected(tmp_path: Path) -> None:
    generator = hook(tmp_path, "import sys; sys.stdout.write('hello')")

    with pytest.raises(GenerationFailedError, match="valid GLB"):
        generator.generate(request())


def test_timeout_is_a_generation_failure(tmp_path: Path) -> None:
    generator = hook(tmp_path, "import time; time.sleep(10)", timeout_s=0.5)

    with pytest.raises(GenerationFailedError, match=r"did not finish within 0\.5 s"):
        generator.generate(request())


def test_unconfigured_hook_is_not_ready() -> None:
    generator = External3DGenerator(GeneratorSettings())

    problem = generator.readiness_problem()

    assert problem is not None
    assert "EXTERNAL_3D_COMMAND" in problem
    with pytest.raises(GeneratorNotReadyError):
        generator.generate(request())


def test_missing_program_is_not_ready_without_telling_clients_its_path() -> None:
    settings = GeneratorSettings(external_3d_command=["/nonexistent/text-to-3d"])
    generator = External3DGenerator(settings)

    problem = generator.readiness_problem()

    assert problem is not None
    assert "not found" in problem
    with pytest.raises(GeneratorNotReadyError) as caught:
        generator.generate(request())
    assert "/nonexistent" not in caught.value.message
    assert "/nonexistent" in caught.value.operator_detail


def test_check_glb_accepts_a_minimal_glb() -> None:
    check_glb(minimal_glb())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda glb: glb[:10], "too short"),
        (lambda glb: b"glTX" + glb[4:], "magic"),
        (lambda glb: glb[:4] + (1).to_bytes(4, "little") + glb[8:], "version 1"),
        (lambda glb: glb + b"\0\0\0\0", "header says"),
        (lambda glb: glb[:16] + b"JSOX" + glb[20:], "not JSON"),
        (
            lambda glb: glb[:20] + json.dumps({"asset": 1}).encode().ljust(len(glb) - 20),
            "does not load",
        ),
    ],
)
def test_check_glb_rejects_broken_files(mutate: Callable[[bytes], bytes], message: str) -> None:
    broken = mutate(minimal_glb())

    with pytest.raises(GenerationFailedError, match=message):
        check_glb(broken)
