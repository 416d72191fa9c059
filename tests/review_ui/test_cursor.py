"""Queue cursors: what was issued decodes; anything else is a 422, never a 500."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from review_ui.cursor import InvalidCursorError, QueuePosition, decode_cursor, encode_cursor


def _token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_an_issued_cursor_round_trips() -> None:
    position = QueuePosition(90, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "ab12")
    assert decode_cursor(encode_cursor(position)) == position


@pytest.mark.parametrize(
    "raw",
    [
        b'[90, "2026-01-02T03:04:05", "ab12"]',  # naive: cannot be compared with aware
        b"[" * 50_000 + b"]" * 50_000,  # deep: would recurse in json.loads
        b'[[[1]], "2026-01-02T03:04:05+00:00", "x"]',
        b"not json",
    ],
)
def test_a_cursor_not_issued_here_is_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(_token(raw))
