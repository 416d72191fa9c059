"""Opaque keyset cursors for the queue listing (priority desc, created_at asc, id asc).

token = encode_cursor(QueuePosition(priority=90, created_at=t, task_id="ab12"))
decode_cursor(token) == QueuePosition(90, t, "ab12")
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from common.errors import InvalidInputError
from common.jsonsafe import json_depth_exceeds

__all__ = ["InvalidCursorError", "QueuePosition", "decode_cursor", "encode_cursor"]


class InvalidCursorError(InvalidInputError):
    code = "invalid_cursor"


@dataclass(frozen=True, slots=True)
class QueuePosition:
    """The sort key of the last task on a page (created_at aware UTC)."""

    priority: int
    created_at: datetime
    task_id: str


def encode_cursor(position: QueuePosition) -> str:
    raw = json.dumps(
        [position.priority, position.created_at.isoformat(), position.task_id],
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


_MAX_CURSOR_CHARS = 512  # an issued cursor is under 150; anything longer was not issued


def decode_cursor(token: str) -> QueuePosition:
    try:
        if len(token) > _MAX_CURSOR_CHARS:
            raise ValueError("too long")
        padded = token + "=" * (-len(token) % 4)
        raw = base64.urlsafe_b64decode(padded)
        if json_depth_exceeds(raw, max_depth=2):  # an issued cursor is one flat list
            raise ValueError("nested")
        priority, created_at, task_id = json.loads(raw)
        return QueuePosition(int(priority), _aware(created_at), str(task_id))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidCursorError("the cursor is not one this service issued") from exc


def _aware(iso: str) -> datetime:
    """The issued timestamp; a naive one was not issued here (and cannot be compared)."""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        raise ValueError("naive timestamp")
    return moment
