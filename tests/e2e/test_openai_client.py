"""The official ``openai`` client, unchanged, against a real gateway on loopback."""

from __future__ import annotations

import httpx
import openai
import pytest

from gateway.models import Role
from tests.e2e.conftest import LiveServer
from tests.support.gateway import bearer, issue_key

pytestmark = [pytest.mark.e2e, pytest.mark.db]


def sdk(server: LiveServer, role: Role = Role.GENERATE) -> openai.OpenAI:
    key = issue_key(server.runtime, "acme", role)
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0)


def test_chat_completion(live_server: LiveServer) -> None:
    completion = sdk(live_server).chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "写一句防晒霜的宣传语"}],
        max_tokens=16,
        seed=3,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert "防晒霜" in (choice.message.content or "")
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    extra = completion.model_extra or {}
    assert extra["aigc"]["status"] == "released"
    assert extra["aigc"]["generation_id"].startswith("gen_")


def test_chat_completion_stream(live_server: LiveServer) -> None:
    stream = sdk(live_server).chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "介绍一款保温杯"}],
        stream=True,
    )
    chunks = list(stream)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) >= 2
    assert "保温杯" in "".join(pieces)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_models_lists_configured_generators(live_server: LiveServer) -> None:
    models = sdk(live_server).models.list()
    assert [m.id for m in models.data] == ["echo-text", "fake-3d", "fake-image"]


def test_sdk_sees_auth_errors(live_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{live_server.base_url}/v1", api_key="aigc_x_y", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="default", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.PermissionDeniedError):
        sdk(live_server, Role.AUDIT).chat.completions.create(
            model="default", messages=[{"role": "user", "content": "x"}]
        )


def test_native_api_over_http(live_server: LiveServer) -> None:
    key = issue_key(live_server.runtime, "acme", Role.GENERATE)
    with httpx.Client(base_url=live_server.base_url, headers=bearer(key)) as http:
        created = http.post("/v1/generations", json={"kind": "text", "prompt": "羽绒服"})
        assert created.status_code == 201
        generation_id = created.json()["id"]
        assert http.get(f"/v1/generations/{generation_id}").json()["status"] == "released"
        assert "羽绒服" in http.get(f"/v1/generations/{generation_id}/content").text
        malformed = http.post(
            "/v1/generations", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert malformed.status_code == 422
        assert malformed.json()["error"]["request_id"] == malformed.headers["x-request-id"]
        assert http.get("/healthz").status_code == 200
        metrics = http.get("/metrics").text
        assert (
            'aigc_http_requests_total{method="POST",route="/v1/generations",status="201"}'
            in metrics
        )
        assert 'aigc_pipeline_stage_duration_seconds_count{stage="generate"}' in metrics
