"""The verify page and the reviewer pages pick the same language for the same reader."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

_HTML_LANG = re.compile(r'<html lang="([^"]+)"')


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        (None, "zh-CN"),
        ("fr-FR", "zh-CN"),
        ("en-US,en;q=0.9", "en"),
        ("zh;q=0.2, en;q=0.8", "en"),
        ("en;q=0.1, zh-TW;q=0.5", "zh-CN"),
        ("zh;q=0, en;q=0.1", "en"),
    ],
)
def test_both_pages_agree(client: TestClient, accept_language: str | None, expected: str) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    langs = []
    for path in ("/verify", "/review/login"):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, path
        match = _HTML_LANG.search(response.text)
        assert match is not None, path
        langs.append(match.group(1))
    assert langs == [expected, expected]
