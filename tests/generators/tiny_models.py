"""The tiny default models for tests, built once per machine and reused across sessions.

Building trains the tiny LM for some seconds, so tests share one build kept in pytest's
cache directory under a key that hashes the builders' source and corpus: any change to
them builds afresh. Without the cache plugin, the build goes to a session temp dir.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

import generators.tiny
from generators.tiny import build_default_models

TINY_SOURCES = Path(generators.tiny.__file__).parent


def builders_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(TINY_SOURCES.rglob("*")):
        if path.suffix in {".py", ".txt"}:
            digest.update(path.relative_to(TINY_SOURCES).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cached_tiny_models(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory holding the built tiny models."""
    cache = getattr(config, "cache", None)
    name = f"aigc-tiny-models-{builders_fingerprint()}"
    models_dir = cache.mkdir(name) if cache is not None else tmp_path_factory.mktemp(name)
    started = time.perf_counter()
    build_default_models(models_dir)
    print(f"\ntiny models ready in {models_dir} after {time.perf_counter() - started:.1f} s")
    return models_dir
