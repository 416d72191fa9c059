"""Plug any text-to-3D system in as a command: JSON on stdin, a GLB on stdout.

The configured command (an argv list, run without a shell) receives one JSON object
``{"prompt": ..., "params": {...}}`` on stdin and must write one binary glTF (GLB) to
stdout and exit 0 within the timeout. Anything else is a ``GenerationFailedError``::

    settings = GeneratorSettings(external_3d_command=["python", "my_nerf.py"])
    artifact = External3DGenerator(settings).generate(
        GenerationRequest(ContentKind.MODEL3D, "a ceramic vase", {"steps": 30}))

Params are passed through unchecked: the external system owns their meaning. The GLB is
checked (glTF 2.0 §4.4.1 header, chunk layout, JSON chunk, and a trimesh load) before
anything downstream sees it.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import struct
import subprocess
from pathlib import Path

from common.types import ContentKind, MediaType
from generators.interface import (
    GeneratedArtifact,
    GenerationFailedError,
    GenerationRequest,
    GeneratorNotReadyError,
    InvalidParamsError,
)
from generators.settings import GeneratorSettings

__all__ = ["External3DGenerator", "check_glb"]

logger = logging.getLogger(__name__)

GLB_MAGIC = b"glTF"
GLB_VERSION = 2
GLB_HEADER = struct.Struct("<4sII")  # magic, version, total length (glTF 2.0 §4.4.2)
CHUNK_HEADER = struct.Struct("<I4s")  # chunk length, chunk type (glTF 2.0 §4.4.3)
JSON_CHUNK = b"JSON"
STDERR_LOG_CHARS = 2000


class External3DGenerator:
    """A ``Generator`` for ``model3d`` that runs a configured external command."""

    kind = ContentKind.MODEL3D

    def __init__(self, settings: GeneratorSettings, name: str = "external-3d") -> None:
        self.name = name
        self._settings = settings
        self._command = list(settings.external_3d_command or [])

    def readiness_problem(self) -> str | None:
        if not self._command:
            return (
                "No external 3D command is configured; set AIGC_GENERATORS__EXTERNAL_3D_COMMAND "
                'to a JSON list such as ["python", "/opt/text_to_3d.py"].'
            )
        program = self._command[0]
        if shutil.which(program) is None and not Path(program).is_file():
            return f"The external 3D command {program!r} was not found."
        return None

    def generate(self, request: GenerationRequest) -> GeneratedArtifact:
        if request.kind is not ContentKind.MODEL3D:
            raise InvalidParamsError(f"{self.name} generates 3D models, not {request.kind}")
        problem = self.readiness_problem()
        if problem is not None:
            raise GeneratorNotReadyError(
                "the external 3D command is not configured or not installed",
                operator_detail=problem,
            )
        payload = json.dumps(
            {"prompt": request.prompt, "params": dict(request.params)}, ensure_ascii=False
        )
        glb = self._run(payload.encode("utf-8"))
        check_glb(glb)
        return GeneratedArtifact(
            kind=ContentKind.MODEL3D,
            media_type=MediaType.GLB,
            data=glb,
            generator=self.name,
            model=Path(self._command[-1]).name,
            model_revision="external",
        )

    def _run(self, stdin: bytes) -> bytes:
        timeout_s = self._settings.external_3d_timeout_s
        try:
            completed = subprocess.run(
                self._command, input=stdin, capture_output=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise GenerationFailedError(
                f"the external 3D command did not finish within {timeout_s:g} s"
            ) from exc
        except OSError as exc:
            raise GeneratorNotReadyError(
                f"the external 3D command could not start ({type(exc).__name__})",
                operator_detail=f"the external 3D command could not start: {exc}",
            ) from exc
        if completed.returncode != 0:
            # stderr may carry paths and internals: log it, do not return it to clients.
            logger.warning(
                "external 3D command exited with %d: %s",
                completed.returncode,
                completed.stderr.decode("utf-8", "replace")[-STDERR_LOG_CHARS:],
            )
            raise GenerationFailedError(
                f"the external 3D command exited with status {completed.returncode}"
            )
        if len(completed.stdout) > self._settings.external_3d_max_bytes:
            limit = self._settings.external_3d_max_bytes
            raise GenerationFailedError(f"the external 3D command wrote more than {limit} bytes")
        return completed.stdout


def check_glb(data: bytes) -> None:
    """Raise ``GenerationFailedError`` unless ``data`` is a well-formed GLB that loads."""
    problem = glb_layout_problem(data)
    if problem is None:
        problem = glb_load_problem(data)
    if problem is not None:
        raise GenerationFailedError(f"the external 3D command did not write a valid GLB: {problem}")


def glb_layout_problem(data: bytes) -> str | None:
    if len(data) < GLB_HEADER.size + CHUNK_HEADER.size:
        return f"{len(data)} bytes is too short for a GLB"
    magic, version, length = GLB_HEADER.unpack_from(data)
    if magic != GLB_MAGIC:
        return "missing the glTF magic"
    if version != GLB_VERSION:
        return f"glTF binary version {version}, expected {GLB_VERSION}"
    if length != len(data):
        return f"header says {length} bytes, got {len(data)}"
    chunk_length, chunk_type = CHUNK_HEADER.unpack_from(data, GLB_HEADER.size)
    if chunk_type != JSON_CHUNK:
        return "the first chunk is not JSON"  # glTF 2.0 §4.4.3.2
    if GLB_HEADER.size + CHUNK_HEADER.size + chunk_length > len(data):
        return "the JSON chunk runs past the end of the file"
    return None


def glb_load_problem(data: bytes) -> str | None:
    import trimesh

    try:
        trimesh.load(io.BytesIO(data), file_type="glb")
    except Exception as exc:
        return f"it does not load ({type(exc).__name__})"
    return None
