"""The embedded defaults end to end: the tiny models built by `models init`, the real
moderation engine, stamping and ledger, over HTTP with the official OpenAI client."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from common.types import MediaType
from gateway.models import Role
from gateway.queries import get_generation
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from ledger.settings import AnchorSettings, LedgerSettings
from provenance.readback import read_c2pa
from tests.e2e.conftest import LiveServer, serve_in_thread
from tests.support.gateway import issue_key

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.slow]

# Runs on the SQLite pass only: the models and the path are the same on PostgreSQL.


@pytest.fixture
def default_server(
    database_url: str, data_dir: Path, tiny_models_dir: Path
) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        models_dir=tiny_models_dir,
        ledger=LedgerSettings(anchor=AnchorSettings(node="eth_tester")),  # no anvil child
    )
    runtime: Runtime = build_runtime(settings)
    server, thread, base_url = serve_in_thread(runtime)
    yield LiveServer(base_url, runtime)
    server.should_exit = True
    thread.join(timeout=10)


def sdk(server: LiveServer) -> openai.OpenAI:
    key = issue_key(server.runtime, "acme", Role.GENERATE)
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0)


def test_tiny_lm_writes_copy_through_the_sdk(default_server: LiveServer) -> None:
    client = sdk(default_server)
    request = {
        "model": "default",
        "messages": [{"role": "user", "content": "新款保温杯"}],
        "max_tokens": 32,
        "seed": 11,
    }
    first = client.chat.completions.create(**request)  # type: ignore[call-overload]
    second = client.chat.completions.create(**request)  # type: ignore[call-overload]
    text = first.choices[0].message.content or ""
    assert first.model == default_server.runtime.settings.generators.default_text_generator
    assert first.usage is not None
    assert first.usage.completion_tokens > 0
    assert text
    aigc = (first.model_extra or {})["aigc"]
    if aigc["status"] == "released":
        assert second.choices[0].message.content == text  # same seed, same output
        assert aigc["provenance"]["ledger_index"] is not None
    else:  # the tiny LM may write an ad-law term: then it is held, content withheld
        assert aigc["status"] == "pending_review"
        assert first.choices[0].finish_reason == "content_filter"


def test_tiny_lm_streams(default_server: LiveServer) -> None:
    stream = sdk(default_server).chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "夏季防晒霜"}],
        max_tokens=24,
        seed=5,
        stream=True,
    )
    chunks = list(stream)
    assert chunks[-1].choices[0].finish_reason in {"stop", "length", "content_filter"}
    assert len(chunks) >= 3


def test_image_through_the_sdk_is_stamped_and_trusted(default_server: LiveServer) -> None:
    client = sdk(default_server)
    result = client.images.generate(prompt="a red teapot", size="256x256", n=1)
    assert result.data is not None
    data = base64.b64decode(result.data[0].b64_json or "")
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == (256, 256)
    reading = read_c2pa(data, MediaType.PNG, trust_anchors_pem=_anchors(default_server.runtime))
    assert reading.state.value == "trusted", reading.validation_status
    assert reading.soft_binding_ids


def _anchors(runtime: Runtime) -> str:
    from provenance.keys import build_key_provider, trust_anchors_pem

    settings = runtime.settings.provenance_resolved
    return trust_anchors_pem(settings, build_key_provider(settings))


def test_generated_text_carries_the_green_list_watermark(default_server: LiveServer) -> None:
    """A long tiny-LM output, verified as plain text: the gateway's key finds the watermark
    (z >= 4); human-written copy does not."""
    runtime = default_server.runtime
    headers = {"Authorization": f"Bearer {issue_key(runtime, 'acme', Role.GENERATE)}"}
    with httpx.Client(base_url=default_server.base_url, timeout=120) as http:
        # The key is random per data directory and steers when the model would stop:
        # min_new_tokens makes the output long enough for the z-test under any key.
        params = {"max_new_tokens": 200, "min_new_tokens": 160, "seed": 3}
        body = {"kind": "text", "prompt": "新款保温杯", "params": params}
        created = http.post("/v1/generations", json=body, headers=headers).json()
        assert created["usage"]["completion_tokens"] >= 160, created
        generation = get_generation(runtime.engine, "acme", created["id"])
        text = runtime.store.read(generation.raw_path or "").decode()
        ours = http.post("/v1/verify", json={"text": text}).json()["watermark"]
        human_text = "这款保温杯采用双层真空设计，保温效果持久。杯身轻巧，适合通勤和出游携带。" * 6
        human = http.post("/v1/verify", json={"text": human_text}).json()["watermark"]
    assert ours["z_score"] is not None
    assert ours["z_score"] >= 4, ours
    assert human["z_score"] is None or human["z_score"] < 3, human
