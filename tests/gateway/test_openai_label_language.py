"""``label_language``, an extra body field of the OpenAI endpoints: English copy, English label."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.models import Role
from gateway.runtime import Runtime
from tests.support.gateway import bearer, issue_key

pytestmark = pytest.mark.db


@pytest.fixture
def key(runtime: Runtime) -> str:
    return issue_key(runtime, "acme", Role.GENERATE)


@pytest.mark.parametrize(("language", "label"), [("en", "[AI-generated]"), ("zh", "【AI生成】")])
def test_chat_completions_label_in_the_language_asked(
    client: TestClient, key: str, language: str, label: str
) -> None:
    body = {
        "model": "default",
        "messages": [{"role": "user", "content": "Spring dresses, new in"}],
        "label_language": language,
    }
    response = client.post("/v1/chat/completions", json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    assert label in response.json()["choices"][0]["message"]["content"]


def test_image_generations_accept_label_language(
    client: TestClient, runtime: Runtime, key: str
) -> None:
    body = {"prompt": "red teapot", "size": "256x256", "label_language": "en"}
    response = client.post("/v1/images/generations", json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    generation_id = response.json()["aigc"][0]["generation_id"]
    stored = client.get(f"/v1/generations/{generation_id}", headers=bearer(key)).json()
    assert stored["status"] == "released"
    from gateway.db import session_scope
    from gateway.models import Generation

    with session_scope(runtime.engine) as session:
        row = session.get(Generation, generation_id)
        assert row is not None
        assert row.label_language == "en"


def test_an_unknown_label_language_is_422(client: TestClient, key: str) -> None:
    body = {
        "model": "default",
        "messages": [{"role": "user", "content": "x"}],
        "label_language": "fr",
    }
    response = client.post("/v1/chat/completions", json=body, headers=bearer(key))
    assert response.status_code == 422
