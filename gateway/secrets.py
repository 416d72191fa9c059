"""Secret files: created once, mode 0600, read back on every start.

key = load_or_create_secret(settings.secrets_dir_resolved / "text_watermark_key", nbytes=8)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["load_or_create_secret", "write_secret_file"]


def write_secret_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only, atomically."""
    tmp = _private_temporary(path, data)
    os.replace(tmp, path)


def load_or_create_secret(path: Path, nbytes: int = 32) -> bytes:
    """The secret stored at ``path``; a new random one on first use.

    Processes starting side by side on a fresh data directory (API processes and workers)
    agree on one secret: each links its candidate into place, which fails for all but the
    first, and every one then reads the winner's file.
    """
    if path.exists():
        return path.read_bytes()
    tmp = _private_temporary(path, secrets.token_bytes(nbytes))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    finally:
        os.unlink(tmp)
    return path.read_bytes()


def _private_temporary(path: Path, data: bytes) -> Path:
    """``data`` in a 0600 file beside ``path``, under a name no other writer uses."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)  # O_CREAT's mode is masked by umask; be explicit
    return tmp
