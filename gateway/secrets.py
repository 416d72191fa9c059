"""Secret files: created once, mode 0600, read back on every start.

key = load_or_create_secret(settings.secrets_dir_resolved / "text_watermark_key", nbytes=8)
"""

from __future__ import annotations

import secrets
from pathlib import Path

from common.privatefiles import create_private_once

__all__ = ["load_or_create_secret"]


def load_or_create_secret(path: Path, nbytes: int = 32) -> bytes:
    """The secret stored at ``path``; a new random one on first use.

    Processes starting side by side on a fresh data directory (API processes and workers)
    agree on one secret: each links its candidate into place, which fails for all but the
    first, and every one then reads the winner's file.
    """
    if path.exists():
        return path.read_bytes()
    create_private_once(path, secrets.token_bytes(nbytes))
    return path.read_bytes()
