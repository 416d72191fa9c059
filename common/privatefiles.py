"""Files only their owner may read (0600), written whole or not at all.

    write_private(path, data)                   # replaces ``path`` atomically
    if not create_private_once(path, data):     # another process made it first:
        data = path.read_bytes()                # everyone uses the winner's file

Both write a temporary file beside ``path`` under a name no other writer uses, fsync it,
then rename (replace) or hard-link (create once) it into place: a reader never sees half
a file, and processes starting side by side on a fresh data directory agree on one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["create_private_once", "write_private"]


def write_private(path: Path, data: bytes) -> None:
    os.replace(_private_temporary(path, data), path)


def create_private_once(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it exists; False if it already did."""
    temporary = _private_temporary(path, data)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    return True


def _private_temporary(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(temporary, 0o600)  # O_CREAT's mode is masked by umask; be explicit
    return temporary
