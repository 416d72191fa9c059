"""Model directories on disk: the build marker and the revision that pins the weights.

A directory written by ``build_default_models`` ends with a marker file,
``aigc_model.json``, written last: its presence means the build completed, and it
records the revision (a SHA-256 over every other file) that artifacts report::

    write_build_marker(model_dir, name="tiny-text-lm", builder_version=1)
    read_build_marker(model_dir).revision   # "3f1c0e9a6b2d4c81"
    model_revision(ModelSource.parse("/models/qwen", None))   # the same hash, recomputed
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from generators.interface import GeneratorNotReadyError
from generators.settings import ModelSource

__all__ = [
    "BUILD_MARKER",
    "BuildMarker",
    "LazyModel",
    "apply_torch_threads",
    "directory_digest",
    "model_revision",
    "read_build_marker",
    "write_build_marker",
]

BUILD_MARKER = "aigc_model.json"
REVISION_HEX_CHARS = 16  # 64 bits: enough to tell builds apart, short enough to read
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class BuildMarker:
    name: str
    revision: str
    builder_version: int


def directory_digest(directory: Path) -> str:
    """SHA-256 over the relative path and bytes of every file but the marker, in order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        if relative == BUILD_MARKER:
            continue
        digest.update(relative.encode() + b"\0")
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK_BYTES):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()[:REVISION_HEX_CHARS]


def write_build_marker(directory: Path, *, name: str, builder_version: int) -> BuildMarker:
    marker = BuildMarker(name, directory_digest(directory), builder_version)
    payload = {"name": name, "revision": marker.revision, "builder_version": builder_version}
    (directory / BUILD_MARKER).write_text(json.dumps(payload, indent=2) + "\n", "utf-8")
    return marker


def read_build_marker(directory: Path) -> BuildMarker | None:
    """The marker of a completed build, or ``None`` when absent or unreadable."""
    try:
        payload = json.loads((directory / BUILD_MARKER).read_text("utf-8"))
        return BuildMarker(
            str(payload["name"]), str(payload["revision"]), int(payload["builder_version"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def model_revision(source: ModelSource, hub_commit: str | None = None) -> str:
    """What pins a model: the hash of its local directory, or the hub commit.

    The directory is hashed at load time rather than trusting a marker, so a copied and
    edited model reports what it really is; for a large model that reads every weight
    file once.
    """
    if source.path is None:
        return hub_commit or "unpinned"
    return directory_digest(source.path)


def apply_torch_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count (process-wide) when configured."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


T = TypeVar("T")


class LazyModel(Generic[T]):
    """A model loaded once, on first use, under its generator's lock.

    ``files_problem`` says in a sentence why the files cannot load (``None`` when they
    look right); ``load`` raises ``GeneratorNotReadyError`` when loading fails anyway, and
    its operator detail is the readiness problem from then on::

        model = LazyModel(lock, load, files_problem, "the text model is not installed …")
        model.get()                 # loads on the first call, once
        model.readiness_problem()   # None once loaded
    """

    def __init__(
        self,
        lock: threading.Lock,
        load: Callable[[], T],
        files_problem: Callable[[], str | None],
        not_installed: str,
    ) -> None:
        self._lock = lock
        self._load = load
        self._files_problem = files_problem
        self._not_installed = not_installed
        self._value: T | None = None
        self._load_error: str | None = None

    def readiness_problem(self) -> str | None:
        if self._value is not None:
            return None
        return self._load_error or self._files_problem()

    def get(self) -> T:
        if self._value is not None:
            return self._value
        with self._lock:
            if self._value is None:
                problem = self.readiness_problem()
                if problem is not None:
                    raise GeneratorNotReadyError(self._not_installed, operator_detail=problem)
                try:
                    self._value = self._load()
                except GeneratorNotReadyError as exc:
                    self._load_error = exc.operator_detail
                    raise
        return self._value
